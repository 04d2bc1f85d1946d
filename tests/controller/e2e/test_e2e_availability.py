"""Availability over the real Mosquitto (issue 12, finding 11; PROTOCOL.md §4.6): an access
point's Death makes its labels unreachable, and a restarted simulator is not taken for dead."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from controller.local_broker import LocalBroker
from controller.service import running_controller
from controller.state.devices_repo import device
from controller.state.fleet_repo import DeviceFilter, count_devices
from controller.state.labels_repo import label_state
from device_sim.behaviour import Behaviour
from device_sim.gateway import Gateway, Outgoing
from device_sim.sessions import SessionCounters
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store
from firmware_protocol.messages import Death
from tests.support.running import running
from tests.support.store_kit import Store, item, label_id, settings_for, store_with_labels


async def _online(rig: Store, labels: list[str], *, expected: bool) -> None:
    async def all_match() -> bool:
        for label in labels:
            found = await device(rig.ctl.conn, label)
            if found is None or found.online is not expected:
                return False
        return True

    await rig.wait_until(all_match, what=f"{labels} online={expected}")


async def test_finding_11_an_access_points_death_makes_its_labels_unreachable(
    broker, store_id, tmp_path
):
    """The access point's Death lists its labels offline and their pushes wait; its next Birth
    brings them back and the waiting price reaches them."""
    async with store_with_labels(broker, store_id, tmp_path, labels=2, access_points=1) as rig:
        labels = [label_id(1), label_id(2)]
        await rig.publish_item(item("TR-11", "11.00"))

        async def stored() -> bool:
            async with rig.ctl.conn.execute("SELECT 1 FROM items WHERE sku = 'TR-11'") as cur:
                return await cur.fetchone() is not None

        await rig.wait_until(stored, what="TR-11 stored")
        for label in labels:
            await rig.ctl.operations.link(label, "TR-11", actor="test")
        await rig.converged(labels)
        ap = rig.sim.links["ap-01"]

        def die(gw: Gateway, _: float) -> list[Outgoing]:
            return [Outgoing(gw.gateway_id, Death(gw.ap_session))]

        ap.act(lambda now: die(ap.gateway, now))
        await _online(rig, labels, expected=False)
        offline = DeviceFilter(offline=True, adopted=True)
        assert await count_devices(rig.ctl.conn, offline) == 3  # the AP and its two labels
        before = await label_state(rig.ctl.conn, labels[0])
        assert before is not None
        await rig.publish_item(item("TR-11", "12.00", version=2))

        async def put_off() -> bool:
            async with rig.ctl.conn.execute(
                "SELECT next_attempt_at FROM outbox WHERE device_id = ?", (labels[0],)
            ) as cursor:
                row = await cursor.fetchone()
            later = rig.ctl.clock() + timedelta(seconds=60)
            return row is not None and datetime.fromisoformat(row[0]) > later

        await rig.wait_until(put_off, what="the push put off while unreachable")
        assert rig.sim.label(labels[0]).displayed_hash == before.desired_hash

        def born(gw: Gateway, _: float) -> list[Outgoing]:
            gw.ap_session += 1
            return [Outgoing(gw.gateway_id, gw.ap_birth())]

        ap.act(lambda now: born(ap.gateway, now))
        await _online(rig, labels, expected=True)
        await rig.converged(labels)
        after = await label_state(rig.ctl.conn, labels[0])
        assert after is not None
        assert after.desired_revision > before.desired_revision


async def _sim_run(broker: LocalBroker, store: str, state: Path, labels: int) -> Simulator:
    counters = SessionCounters.for_store(state, store)
    gateways = build_store(StoreSpec(store, labels), Behaviour.instant(), counters=counters)
    sim = Simulator(gateways, broker.address(), broker.store_secret)
    broker.add_store(store)
    broker.add_clients(sim.gateway_ids)
    return sim


async def test_finding_11_a_restarted_simulator_is_not_marked_offline_by_its_old_deaths(
    broker, store_id, tmp_path
):
    """A simulator stopped (its retained Deaths stay on the broker) and started again is born
    above them: a controller started afterwards lists every label online."""
    state = tmp_path / "sim"
    labels = [label_id(n) for n in range(1, 4)]
    first = await _sim_run(broker, store_id, state, len(labels))
    ready = asyncio.Event()
    async with running(first.run(ready=ready)):
        await asyncio.wait_for(ready.wait(), 20)
        await asyncio.sleep(0.2)  # births published
    # Stopped: each label published its Death, retained.
    second = await _sim_run(broker, store_id, state, len(labels))
    ready = asyncio.Event()
    async with running(second.run(ready=ready)):
        await asyncio.wait_for(ready.wait(), 20)
        settings = settings_for(broker, store_id, tmp_path / "state.db")
        async with running_controller(settings, workers=1) as controller:
            for label in labels:
                assert second.device(label).session > first.device(label).session

            async def all_online() -> bool:
                for label in labels:
                    found = await device(controller.conn, label)
                    if found is None or not found.online:
                        return False
                return True

            deadline = asyncio.get_running_loop().time() + 20
            while not await all_online():
                assert asyncio.get_running_loop().time() < deadline, "labels listed offline"
                await asyncio.sleep(0.05)
