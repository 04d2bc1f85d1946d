"""A catalog change over the real Mosquitto reaches every bound simulated label."""

from __future__ import annotations

import asyncio

from controller.local_broker import LocalBroker
from controller.state.labels_repo import label_state
from firmware_protocol.codec import decode
from firmware_protocol.messages import Desired, Encoding
from tests.support.image_server import observer_client
from tests.support.running import running
from tests.support.store_kit import Store, item, store_with_labels


async def _link_all(rig: Store, skus: list[str]) -> dict[str, str]:
    """Label i shows item i % len(skus); returns label -> sku."""
    plan = {label: skus[i % len(skus)] for i, label in enumerate(rig.labels)}
    for label, sku in plan.items():
        await rig.ctl.operations.link(label, sku, actor="test")
    return plan


async def _received_items(rig: Store, count: int) -> None:
    async def receipts() -> bool:
        return sum(1 for t, _ in rig.statuses if t.endswith("/receipt")) >= count

    await rig.wait_until(receipts, what=f"{count} catalog receipts")


async def test_price_change_reaches_every_bound_label_as_a_fresh_render(broker, store_id, tmp_path):
    """Every label bound to the changed item shows exactly a fresh render of its new content."""
    async with store_with_labels(broker, store_id, tmp_path, labels=4) as rig:
        await rig.publish_item(item("TR-1", "12.50"))
        await rig.publish_item(item("TR-2", "3.75"))
        await _received_items(rig, 2)
        plan = await _link_all(rig, ["TR-1", "TR-2"])
        await rig.converged()
        await rig.publish_item(item("TR-1", "11.90", version=2))
        changed = [label for label, sku in plan.items() if sku == "TR-1"]
        before = {d: (await label_state(rig.ctl.conn, d)).desired_revision for d in changed}  # type: ignore[union-attr]

        async def new_revision() -> bool:
            for d in changed:
                state = await label_state(rig.ctl.conn, d)
                if state is None or state.desired_revision <= before[d]:
                    return False
            return True

        await rig.wait_until(new_revision, what="the new revision to be planned")
        await rig.converged()
        for label in rig.labels:
            shown = rig.sim.label(label).planes()
            assert shown == await rig.fresh_planes(label), label


async def test_price_only_change_travels_as_a_delta_and_identical_content_is_not_resent(
    broker: LocalBroker, store_id: str, tmp_path
):
    """A price change is offered as an XOR delta; the same content again sends nothing."""
    desireds: list[Desired] = []

    async def watch() -> None:
        async with observer_client(broker, store_id) as client:
            await client.subscribe(f"os1/{store_id}/down/+/+/desired", qos=1)
            async for message in client.messages:
                payload = message.payload
                if isinstance(payload, bytes) and payload:
                    msg = decode(payload)
                    assert isinstance(msg, Desired)
                    desireds.append(msg)

    async with store_with_labels(broker, store_id, tmp_path, labels=2) as rig, running(watch()):
        await rig.publish_item(item("TR-9", "99.90"))
        await _received_items(rig, 1)
        await _link_all(rig, ["TR-9"])
        await rig.converged()
        first = len(desireds)
        assert first >= 2
        assert all(d.encoding is Encoding.FULL for d in desireds)  # a blank panel: no base

        await rig.publish_item(item("TR-9", "89.90", version=2))
        await rig.wait_until(lambda: _at_least(desireds, first + 2), what="two new offers")
        await rig.converged()
        deltas = desireds[first:]
        assert [d.encoding for d in deltas] == [Encoding.DELTA_XOR] * 2, [
            (d.revision, d.encoding.name) for d in desireds
        ]
        for d in deltas:
            assert d.payload_size < d.raw_size // 10, (d.payload_size, d.raw_size)

        applied = {d: rig.sim.label(d).stats.applied for d in rig.labels}
        revisions = {d: (await label_state(rig.ctl.conn, d)).desired_revision for d in rig.labels}  # type: ignore[union-attr]
        # The same content under a new version: stored, rendered, found identical, not sent.
        await rig.publish_item(item("TR-9", "89.90", version=3))
        await _received_items(rig, 3)
        await asyncio.sleep(1.5)
        assert len(desireds) == first + 2
        assert {d: rig.sim.label(d).stats.applied for d in rig.labels} == applied
        for d in rig.labels:
            state = await label_state(rig.ctl.conn, d)
            assert state is not None
            assert state.desired_revision == revisions[d]


async def _at_least(items: list[Desired], count: int) -> bool:
    return len(items) >= count
