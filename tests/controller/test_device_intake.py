"""A batch of device messages (controller/device_intake.py) is recorded in a few units of work
and keeps the order that matters: per device, and a Birth before what depends on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from controller.link import Incoming
from controller.runtime import Controller
from controller.state.database import open_database
from controller.state.devices_repo import device
from controller.state.labels_repo import label_state
from firmware_protocol.codec import encode
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Message,
    Reported,
    ReportResult,
    Telemetry,
)
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion
from label_renderer.batch import BatchRenderer
from tests.controller.api.api_kit import T0, settings_for

STORE = "s1"
SHOWN = b"\x05" * 16


def _birth(session: int, model: ModelId, revision: int = 0, shown: bytes = NO_HASH) -> Birth:
    return Birth(session, model, FirmwareVersion(1, 0, 0), 4096, 3000, 0, 1, revision, shown, 0)


def _message(gateway: str, device_id: str, msg: Message, *, retain: bool = False) -> Incoming:
    topic = DeviceAddress(STORE, gateway, device_id).topic(msg.OPCODE)
    return Incoming(topic, encode(msg), 1, retain)


@asynccontextmanager
async def _controller(tmp_path) -> AsyncIterator[Controller]:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, STORE, adopt_access_points=("ap-*",))
    async with open_database(settings.state_db) as conn:
        yield Controller(settings, conn, BatchRenderer(1), clock=lambda: T0)


async def test_an_access_point_born_in_a_batch_carries_the_labels_born_after_it(tmp_path):
    """The label's Birth via the access point is admitted (the access point's Birth ahead of it
    was recorded first), and so is its telemetry."""
    async with _controller(tmp_path) as controller:
        await controller.device_intake.on_messages(
            [
                _message("ap-01", "ap-01", _birth(1, ModelId.ACCESS_POINT)),
                _message("ap-01", "lbl-00001", _birth(1, ModelId.EPD290_BWR)),
                _message("ap-01", "lbl-00001", Telemetry(1, 2500, -70, 0)),
            ]
        )
        label = await device(controller.conn, "lbl-00001")
        assert label is not None
        assert label.gateway_id == "ap-01"
        assert label.adopted
        assert label.battery_mv == 2500
        assert controller.fleet.trust.refusals("ap-01") == 0


async def test_a_labels_reports_and_births_in_a_batch_keep_their_order(tmp_path):
    """A Birth after a report is the last word on what the label shows (it restarted and shows
    nothing), and a report after a Birth is (it took an image since)."""
    async with _controller(tmp_path) as controller:
        label = "lbl-00002"

        async def batch(*messages: Message) -> bytes | None:
            await controller.device_intake.on_messages(
                [_message(label, label, m) for m in messages]
            )
            state = await label_state(controller.conn, label)
            assert state is not None
            return state.reported_hash

        await batch(_birth(1, ModelId.EPD290_BWR))
        shown = Reported(0, SHOWN, 0, ReportResult.APPLIED)
        telemetry = Telemetry(1, 2500, -70, 0)
        assert await batch(shown, _birth(2, ModelId.EPD290_BWR), telemetry) == NO_HASH
        assert await batch(_birth(3, ModelId.EPD290_BWR), shown) == SHOWN
        found = await device(controller.conn, label)
        assert found is not None
        assert found.session == 3


async def test_the_urgent_lane_handles_registered_devices_and_hands_back_the_rest(tmp_path):
    """Telemetry of a device registered behind its gateway is recorded at once; a device not
    registered yet, one speaking through another gateway (moving: its Birth is in the bulk
    lane) and any other channel go back for the bulk lane, in order, unrecorded."""
    async with _controller(tmp_path) as controller:
        intake = controller.device_intake
        await intake.on_messages(
            [
                _message("ap-01", "ap-01", _birth(1, ModelId.ACCESS_POINT)),
                _message("ap-01", "lbl-00001", _birth(1, ModelId.EPD290_BWR)),
            ]
        )
        known = _message("ap-01", "lbl-00001", Telemetry(1, 2400, -70, 0))
        moving = _message("ap-02", "lbl-00001", Telemetry(2, 2300, -70, 0))
        new = _message("lbl-00009", "lbl-00009", Telemetry(1, 2200, -70, 0))
        birth = _message("lbl-00009", "lbl-00009", _birth(1, ModelId.EPD290_BWR))
        later = await intake.on_urgent([new, known, moving, birth])
        assert later == [new, moving, birth]  # in arrival order
        assert intake._recording is not None
        await intake._recording  # the lane's facts, recorded together within a second
        label = await device(controller.conn, "lbl-00001")
        assert label is not None
        assert label.battery_mv == 2400  # not the moving one's 2300
        assert await device(controller.conn, "lbl-00009") is None
        await intake.on_messages([birth, new])  # the bulk lane: its Birth, then its telemetry
        newcomer = await device(controller.conn, "lbl-00009")
        assert newcomer is not None
        assert newcomer.battery_mv == 2200
