"""A label that moves to another access point leaves nothing retained under the old one
(issue 13, D10; PROTOCOL.md §2.3), over the real Mosquitto."""

from __future__ import annotations

import asyncio

import aiomqtt

from broker_access.credentials import client_password, observer_user
from controller.local_broker import LocalBroker
from controller.state.devices_repo import device
from tests.support.store_kit import item, label_id, store_with_labels

RETAINED_WAIT_S = 1.0  # retained messages arrive right after the SUBACK; this is ample


async def retained_under(broker: LocalBroker, store: str, gateway: str, label: str) -> set[str]:
    """The channels with a retained (non-empty) document under `gateway` for `label`, read by
    the store's observer account."""
    user = observer_user(store)
    found: set[str] = set()
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=user,
        username=user,
        password=client_password(broker.store_secret, user),
    ) as client:
        await client.subscribe(f"os1/{store}/+/{gateway}/{label}/#", qos=1)
        try:
            async with asyncio.timeout(RETAINED_WAIT_S):
                async for message in client.messages:
                    if message.retain and message.payload:
                        found.add(message.topic.value.rsplit("/", 1)[1])
        except TimeoutError:
            pass
    return found


async def test_a_moved_label_s_retained_documents_under_its_old_gateway_are_deleted(
    broker, store_id, tmp_path
):
    """Before the move the label's birth, reported and desired are retained under ap-01; after
    it re-homes to ap-02, none is left there (a restarted controller would be handed them)."""
    async with store_with_labels(broker, store_id, tmp_path, labels=2, access_points=2) as rig:
        mover = label_id(1)
        assert rig.sim.gateway_of(mover).gateway_id == "ap-01"
        await rig.publish_item(item("MV-1", "3.50"))

        async def stored() -> bool:
            async with rig.ctl.conn.execute("SELECT 1 FROM items WHERE sku = 'MV-1'") as cur:
                return await cur.fetchone() is not None

        await rig.wait_until(stored, what="the item stored")
        await rig.ctl.operations.link(mover, "MV-1", actor="test")
        await rig.converged([mover])
        before = await retained_under(broker, store_id, "ap-01", mover)
        assert {"birth", "reported", "desired"} <= before
        rig.sim.move(mover, "ap-02")

        async def moved() -> bool:
            found = await device(rig.ctl.conn, mover)
            return found is not None and found.gateway_id == "ap-02" and found.online

        await rig.wait_until(moved, what="the label re-homed to ap-02")

        async def cleared() -> bool:
            return not await retained_under(broker, store_id, "ap-01", mover)

        await rig.wait_until(cleared, within_s=10, what="nothing retained under ap-01")
        assert {"birth"} <= await retained_under(broker, store_id, "ap-02", mover)
