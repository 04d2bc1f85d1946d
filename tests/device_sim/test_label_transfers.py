"""A simulated label over the real Mosquitto, fed by codec frames published by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from PIL import Image, ImageChops

from controller.local_broker import LocalBroker
from device_sim.behaviour import Behaviour
from device_sim.export import export_png
from device_sim.mqtt import BrokerAddress
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store
from firmware_protocol.messages import (
    Birth,
    Encoding,
    Message,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import ModelId, model
from firmware_protocol.transfer import indices_from_bitmap
from tests.support.image_server import ImageServer, controller_client
from tests.support.images import planes_of, price_image, rgb_of
from tests.support.running import running

MODEL = model(ModelId.EPD290_BWR)
LABEL = "lbl-00001"


@dataclass
class Rig:
    sim: Simulator
    server: ImageServer

    @property
    def address(self):  # type: ignore[no-untyped-def]
        return self.sim.gateway_of(LABEL).address(LABEL)

    async def reported(self, revision: int, result: ReportResult | None = None) -> Reported:
        def match(m: Message) -> bool:
            return (
                isinstance(m, Reported)
                and m.revision == revision
                and (result is None or m.result is result)
            )

        msg = await self.server.wait_for(LABEL, match)
        assert isinstance(msg, Reported)
        return msg


async def _rig(broker: LocalBroker, store: str, access_points: int) -> AsyncIterator[Rig]:
    behaviour = Behaviour.instant(resume_after_s=0.3)
    gateways = build_store(
        StoreSpec(store, labels=1, access_points=access_points, label_models=(MODEL.id,)),
        behaviour,
    )
    broker.add_clients([gw.gateway_id for gw in gateways])
    sim = Simulator(gateways, BrokerAddress(broker.host, broker.port), broker.store_secret)
    async with controller_client(broker, store) as client:
        server = ImageServer(client, store)
        async with running(server.run()):
            await asyncio.sleep(0.1)  # the server's subscription is in place
            ready = asyncio.Event()
            async with running(sim.run(ready=ready)):
                await asyncio.wait_for(ready.wait(), 10)
                rig = Rig(sim, server)
                await server.wait_for(LABEL, lambda m: isinstance(m, Birth))
                yield rig


@pytest.fixture(params=[0, 1], ids=["direct", "via-access-point"])
async def rig(
    request: pytest.FixtureRequest, broker: LocalBroker, store_id: str
) -> AsyncIterator[Rig]:
    async for value in _rig(broker, store_id, request.param):
        yield value


def assert_displays(rig: Rig, image: Image.Image, tmp_path_name: str) -> None:
    from pathlib import Path  # noqa: PLC0415

    path = Path(tmp_path_name)
    export_png(rig.sim.label(LABEL), path)
    shown = Image.open(path).convert("RGB")
    expected = rgb_of(image, MODEL)
    assert shown.size == expected.size
    assert ImageChops.difference(shown, expected).getbbox() is None, "pixels differ"


async def test_full_frame_then_delta_shows_source_pixels(rig: Rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A full frame and then a price-only delta both display exactly the source image."""
    first, second = price_image(MODEL, "12,50 TL"), price_image(MODEL, "11,25 TL")
    full = await rig.server.send_image(rig.address, planes_of(first, MODEL), 1)
    await rig.reported(1, ReportResult.APPLIED)
    assert full.desired.encoding is Encoding.FULL
    assert_displays(rig, first, str(tmp_path / "r1.png"))

    delta = await rig.server.send_image(
        rig.address, planes_of(second, MODEL), 2, base=planes_of(first, MODEL)
    )
    report = await rig.reported(2, ReportResult.APPLIED)
    assert delta.desired.encoding is Encoding.DELTA_XOR
    assert delta.desired.payload_size < full.desired.payload_size / 3
    assert report.content_hash == delta.desired.content_hash
    assert_displays(rig, second, str(tmp_path / "r2.png"))


async def test_older_revision_is_ignored(rig: Rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """After revision 5 is shown, revision 4 is reported STALE_IGNORED and not displayed."""
    new, old = price_image(MODEL, "9,99 TL"), price_image(MODEL, "19,99 TL")
    await rig.server.send_image(rig.address, planes_of(new, MODEL), 5)
    await rig.reported(5, ReportResult.APPLIED)
    await rig.server.send_image(rig.address, planes_of(old, MODEL), 4)
    stale = await rig.reported(5, ReportResult.STALE_IGNORED)
    assert stale.revision == 5
    assert rig.sim.label(LABEL).revision == 5
    assert_displays(rig, new, str(tmp_path / "still-r5.png"))


async def test_equal_revision_is_a_no_op(rig: Rig) -> None:
    """The same revision again is reported UNCHANGED and nothing is re-applied."""
    planes = planes_of(price_image(MODEL, "3,00 TL"), MODEL)
    await rig.server.send_image(rig.address, planes, 3)
    await rig.reported(3, ReportResult.APPLIED)
    await rig.server.send_image(rig.address, planes, 3)
    await rig.reported(3, ReportResult.UNCHANGED)
    assert rig.sim.label(LABEL).stats.applied == 1


async def test_offline_label_catches_up_with_latest(rig: Rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A label offline during two updates shows the latest one after it returns."""
    images = [price_image(MODEL, p) for p in ("5,00 TL", "4,50 TL", "4,00 TL")]
    planes = [planes_of(i, MODEL) for i in images]
    await rig.server.send_image(rig.address, planes[0], 1)
    await rig.reported(1, ReportResult.APPLIED)

    rig.sim.act(LABEL, lambda gw, now: gw.go_offline(LABEL, now, 3600))
    await asyncio.sleep(0.2)
    await rig.server.send_image(rig.address, planes[1], 2, base=planes[0])
    await rig.server.send_image(rig.address, planes[2], 3, base=planes[1])
    await asyncio.sleep(0.5)
    assert rig.sim.label(LABEL).revision == 1, "an offline label must not change"

    rig.sim.act(LABEL, lambda gw, now: gw.come_back(LABEL, now))
    await rig.reported(3, ReportResult.APPLIED)
    # The retained offer was a delta against revision 2, which the label never saw.
    requests = rig.server.messages(LABEL, XferRequest)
    assert any(r.reason is XferReason.BASE_UNKNOWN and r.revision == 3 for r in requests)
    assert all(r.revision != 2 for r in requests), "no backlog: revision 2 was skipped"
    assert_displays(rig, images[2], str(tmp_path / "r3.png"))


async def test_interrupted_transfer_resumes_with_missing_chunks(rig: Rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Only the chunks that never arrived are requested, then the image completes."""
    image = price_image(MODEL, "1.299,90 TL", name="Kahve makinesi")
    rig.server.max_packet = 160  # small packets: the image needs several chunks
    sent = await rig.server.send_image(rig.address, planes_of(image, MODEL), 1, only_chunks=[0])
    count = sent.desired.chunk_count
    assert count >= 2
    await rig.reported(1, ReportResult.APPLIED)
    request = next(
        r for r in rig.server.messages(LABEL, XferRequest) if r.reason is XferReason.MISSING_CHUNKS
    )
    assert isinstance(request, XferRequest)
    assert indices_from_bitmap(request.missing, count) == list(range(1, count))
    assert_displays(rig, image, str(tmp_path / "resumed.png"))


async def test_corrupted_chunk_is_detected_and_requested_again(rig: Rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A chunk with a bit error fails its CRC, is dropped, and exactly it is requested again."""
    image = price_image(MODEL, "7,77 TL", name="Peynir 500 g")
    rig.server.max_packet = 160
    sent = await rig.server.send_image(rig.address, planes_of(image, MODEL), 1, corrupt_chunks=[0])
    await rig.reported(1, ReportResult.APPLIED)
    request = next(
        r for r in rig.server.messages(LABEL, XferRequest) if r.reason is XferReason.MISSING_CHUNKS
    )
    assert isinstance(request, XferRequest)
    assert indices_from_bitmap(request.missing, sent.desired.chunk_count) == [0]
    assert rig.sim.gateway_of(LABEL).stats.rejected_frames >= 1
    assert_displays(rig, image, str(tmp_path / "repaired.png"))
