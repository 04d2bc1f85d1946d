"""Who may speak for a label, over the real Mosquitto (issue 12, finding 2; PROTOCOL.md §2.6):
a label's credentials cannot claim another label, roaming between adopted access points works."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import aiomqtt

from broker_access.credentials import client_password
from controller.gateways import SPOOF_PROBLEM
from controller.local_broker import LocalBroker
from controller.service import running_controller
from controller.state.devices_repo import device
from controller.state.fleet_repo import DeviceFilter, count_devices
from controller.state.labels_repo import label_state
from firmware_protocol.codec import decode, encode
from firmware_protocol.messages import NO_HASH, Birth, Message, Reported, ReportResult
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion
from tests.support.running import running
from tests.support.store_kit import Store, item, label_id, store_with_labels

FORGER = "lbl-09999"  # a label's credentials in the attacker's hands


def _birth(session: int, model: ModelId = ModelId.EPD213_BWR) -> Birth:
    return Birth(session, model, FirmwareVersion(1, 0, 0), 4096, 3000, 0, 2, 0, NO_HASH, 0)


@contextlib.asynccontextmanager
async def _forger(
    broker: LocalBroker, store: str, received: list[tuple[str, Message]]
) -> AsyncIterator[aiomqtt.Client]:
    """A client with a provisioned label's own credentials, reading its own down subtree."""
    broker.add_clients([FORGER])
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=FORGER,
        username=FORGER,
        password=client_password(broker.store_secret, FORGER),
    )

    async def listen() -> None:
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes) and payload:
                received.append((message.topic.value, decode(payload)))

    async with client:
        await client.subscribe(f"os1/{store}/down/{FORGER}/#", qos=1)
        async with running(listen()):
            yield client


async def _send(client: aiomqtt.Client, address: DeviceAddress, msg: Message) -> None:
    await client.publish(address.topic(msg.OPCODE), encode(msg), qos=1, retain=False)


async def _linked(rig: Store, label: str, sku: str, price: str) -> None:
    await rig.publish_item(item(sku, price))

    async def stored() -> bool:
        async with rig.ctl.conn.execute("SELECT 1 FROM items WHERE sku = ?", (sku,)) as cur:
            return await cur.fetchone() is not None

    await rig.wait_until(stored, what=f"{sku} stored")
    await rig.ctl.operations.link(label, sku, actor="test")
    await rig.converged([label])


async def _repriced(rig: Store, label: str, sku: str, price: str, version: int) -> None:
    """Publish a new price and wait until the label shows the image planned for it."""
    before = await label_state(rig.ctl.conn, label)
    assert before is not None
    await rig.publish_item(item(sku, price, version=version))

    async def planned() -> bool:
        state = await label_state(rig.ctl.conn, label)
        return state is not None and state.desired_revision > before.desired_revision

    await rig.wait_until(planned, what=f"a new revision for {label}")
    await rig.converged([label])


async def test_finding_2_birth_for_another_label_is_refused(broker, store_id, tmp_path):
    """A label's Birth and Reported for another label under its own subtree change nothing: the
    victim keeps its gateway and gets its new price, the forger gets none of its images, and
    after repeated attempts the forger has a problem."""
    received: list[tuple[str, Message]] = []
    async with store_with_labels(broker, store_id, tmp_path, labels=2) as rig:
        victim = label_id(2)
        await _linked(rig, victim, "TR-1", "10.00")
        async with _forger(broker, store_id, received) as forger:
            await _send(forger, DeviceAddress(store_id, FORGER, FORGER), _birth(1))
            for session in range(5):
                await _send(forger, DeviceAddress(store_id, FORGER, victim), _birth(50 + session))
            trust = rig.ctl.fleet.trust

            async def refused() -> bool:
                return trust.refusals(FORGER) >= 5

            await rig.wait_until(refused, what="the forged births refused")
            await _repriced(rig, victim, "TR-1", "12.00", 2)  # the real label shows it
            state = await label_state(rig.ctl.conn, victim)
            assert state is not None
            forged_report = Reported(state.desired_revision, b"\x01" * 16, 0, ReportResult.APPLIED)
            await _send(forger, DeviceAddress(store_id, FORGER, victim), forged_report)

            async def report_refused() -> bool:
                return trust.refusals(FORGER) >= 6

            await rig.wait_until(report_refused, what="the forged report refused")
            after = await label_state(rig.ctl.conn, victim)
            assert after is not None
            assert after.confirmed
            assert after.reported_hash == rig.sim.label(victim).displayed_hash
            registered = await device(rig.ctl.conn, victim)
            assert registered is not None
            assert registered.gateway_id == victim
            assert not [topic for topic, _ in received if f"/{victim}/" in topic]
            forger_row = await device(rig.ctl.conn, FORGER)
            assert forger_row is not None
            assert forger_row.problem is not None
            assert forger_row.problem.startswith(SPOOF_PROBLEM)


async def test_finding_2_two_thousand_forged_births_register_nothing(
    broker, store_id, tmp_path, caplog
):
    """2,000 forged births from one label add no device row, one problem and a few log lines."""
    caplog.set_level(logging.WARNING, logger="controller.gateways")
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        before = await count_devices(rig.ctl.conn, DeviceFilter())
        async with _forger(broker, store_id, []) as forger:
            await _send(forger, DeviceAddress(store_id, FORGER, FORGER), _birth(1))
            for n in range(2000):
                await _send(forger, DeviceAddress(store_id, FORGER, f"lbl-{10000 + n}"), _birth(1))

            async def all_refused() -> bool:
                return rig.ctl.fleet.trust.refusals(FORGER) >= 2000

            await rig.wait_until(all_refused, within_s=60, what="2,000 forged births refused")
        assert await count_devices(rig.ctl.conn, DeviceFilter()) == before + 1  # the forger
        forger_row = await device(rig.ctl.conn, FORGER)
        assert forger_row is not None
        assert forger_row.failures == 1
        lines = [r for r in caplog.records if r.name == "controller.gateways"]
        assert 1 <= len(lines) <= 3


async def test_a_label_roams_between_adopted_access_points(broker, store_id, tmp_path):
    """A label that moves from one adopted access point to another is re-homed there and its
    next price reaches it through the new one."""
    async with store_with_labels(broker, store_id, tmp_path, labels=2, access_points=2) as rig:
        mover = label_id(1)
        assert rig.sim.gateway_of(mover).gateway_id == "ap-01"
        await _linked(rig, mover, "TR-5", "5.00")
        rig.sim.move(mover, "ap-02")

        async def moved() -> bool:
            found = await device(rig.ctl.conn, mover)
            return found is not None and found.gateway_id == "ap-02" and found.online

        await rig.wait_until(moved, what="the label re-homed to ap-02")
        await _repriced(rig, mover, "TR-5", "6.50", 2)


async def test_an_access_point_adopted_only_by_the_label_pattern_is_not_trusted(
    broker, store_id, tmp_path
):
    """A label (adopted by OMNISHELF_ADOPT) that is born again as an access point loses its
    adoption, so it cannot speak for other labels."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        victim = label_id(1)
        async with _forger(broker, store_id, []) as forger:
            await _send(forger, DeviceAddress(store_id, FORGER, FORGER), _birth(1))

            async def adopted() -> bool:
                found = await device(rig.ctl.conn, FORGER)
                return found is not None and found.adopted

            await rig.wait_until(adopted, what="the forger adopted as a label")
            as_ap = _birth(2, ModelId.ACCESS_POINT)
            await _send(forger, DeviceAddress(store_id, FORGER, FORGER), as_ap)
            await _send(forger, DeviceAddress(store_id, FORGER, victim), _birth(9))

            async def refused() -> bool:
                return rig.ctl.fleet.trust.refusals(FORGER) >= 1

            await rig.wait_until(refused, what="the birth for the victim refused")
            found = await device(rig.ctl.conn, FORGER)
            assert found is not None
            assert not found.adopted
            victim_row = await device(rig.ctl.conn, victim)
            assert victim_row is not None
            assert victim_row.gateway_id == victim


async def test_an_access_point_is_trusted_only_once_adopted_by_an_admin(broker, store_id, tmp_path):
    """Without an access-point pattern, a new access point's labels are not registered; once an
    admin adopts it, it is asked to rebirth and its labels are registered behind it."""
    async with store_with_labels(
        broker, store_id, tmp_path, labels=2, access_points=1, with_controller=False
    ) as rig:
        settings = broker.controller_settings(store_id, rig.db, adopt_access_points=())
        async with running_controller(settings, workers=1) as controller:
            rig.controller = controller

            async def ap_known() -> bool:
                found = await device(controller.conn, "ap-01")
                return found is not None and controller.fleet.trust.refusals("ap-01") >= 2

            await rig.wait_until(ap_known, what="the access point registered, its labels refused")
            ap_row = await device(controller.conn, "ap-01")
            assert ap_row is not None
            assert not ap_row.adopted
            assert await device(controller.conn, label_id(1)) is None
            await controller.operations.adopt("ap-01", actor="test")
            await controller.fleet.adopted("ap-01")
            await rig.registered()
            found = await device(controller.conn, label_id(1))
            assert found is not None
            assert found.gateway_id == "ap-01"
