"""Catalog feed and device life over the real Mosquitto: rejections as dead letters, labels that
were offline, promotions that switch by time, devices the controller does not know."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.local_broker import LocalBroker
from controller.state.catalog_repo import get_item
from controller.state.devices_repo import device
from controller.state.labels_repo import label_state, unconfirmed_labels
from device_sim.gateway import Gateway, Outgoing
from firmware_protocol.messages import NO_HASH, Telemetry
from firmware_protocol.models import ModelId
from tests.support.store_kit import Store, item, store_with_labels


async def _receipts(rig: Store, count: int) -> None:
    async def arrived() -> bool:
        return sum(1 for t, _ in rig.statuses if t.endswith("/receipt")) >= count

    await rig.wait_until(arrived, what=f"{count} receipts")


async def test_invalid_changes_become_dead_letters_and_the_valid_rest_is_stored(
    broker: LocalBroker, store_id: str, tmp_path
):
    """Each invalid change of a batch is a dead letter with its reason and original; the valid
    changes of the same batch are stored and reach their labels."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        bad_price = item("TR-BAD", "12.505")
        changes = [
            {"op": "upsert", "item": item("TR-OK1", "5.00")},
            {"op": "upsert", "item": bad_price},
            {"op": "rename", "sku": "TR-X"},
            {"op": "upsert", "item": item("TR-OK2", "7.25")},
            {"op": "delete", "sku": "bad sku!"},
        ]
        await rig.publish("batch", {"batch_id": "b1", "changes": changes})
        await rig.publish("item/TR-OTHER", item("TR-MISMATCH", "1.00"))
        await rig.publish("item/TR-RAW", None, raw=b"{not json")
        await _receipts(rig, 3)
        letters = [body for topic, body in rig.statuses if topic.endswith("/dead-letter")]
        by_index = {(body["topic"].rsplit("/", 1)[-1], body["index"]): body for body in letters}
        assert by_index["batch", 1]["reason"].startswith("item.price:")
        assert by_index["batch", 1]["original"] == changes[1]
        assert "rename" in by_index["batch", 2]["reason"]
        assert by_index["batch", 4]["reason"].startswith("sku:")
        assert "the body says 'TR-MISMATCH'" in by_index["TR-OTHER", None]["reason"]
        assert by_index["TR-RAW", None]["reason"].startswith("payload: not JSON")
        assert len(letters) == 5
        receipt = next(
            body
            for t, body in rig.statuses
            if t.endswith("/receipt") and body["topic"].endswith("/batch")
        )
        assert (receipt["accepted"], receipt["rejected"]) == (2, 3)
        assert await get_item(rig.ctl.conn, "TR-OK1") is not None
        assert await get_item(rig.ctl.conn, "TR-OK2") is not None
        assert await get_item(rig.ctl.conn, "TR-BAD") is None
        label = rig.labels[0]
        await rig.ctl.operations.link(label, "TR-OK2", actor="test")
        await rig.converged()
        assert rig.sim.label(label).planes() == await rig.fresh_planes(label)


async def test_label_offline_during_changes_converges_when_it_returns(
    broker: LocalBroker, store_id: str, tmp_path
):
    """A label that missed two price changes while out of range shows the latest on return."""
    one_model = (ModelId.EPD290_BWR,)
    async with store_with_labels(broker, store_id, tmp_path, labels=2, models=one_model) as rig:
        await rig.publish_item(item("TR-5", "10.00", version=1))
        await _receipts(rig, 1)
        for label in rig.labels:
            await rig.ctl.operations.link(label, "TR-5", actor="test")
        await rig.converged()
        away, present = rig.labels
        rig.sim.act(away, lambda gw, now: gw.go_offline(away, now, 3600))

        async def offline() -> bool:
            found = await device(rig.ctl.conn, away)
            return found is not None and not found.online

        await rig.wait_until(offline, what="the label's death")
        old = rig.sim.label(away).displayed_hash
        await rig.publish_item(item("TR-5", "9.00", version=2))
        await rig.publish_item(item("TR-5", "8.50", version=3))
        await _receipts(rig, 3)
        await rig.converged([present])
        assert rig.sim.label(away).displayed_hash == old
        assert await rig.unconverged([away]) == [away]  # the price-accuracy audit shows it

        rig.sim.act(away, lambda gw, now: gw.come_back(away, now))
        await rig.converged()
        assert rig.sim.label(away).planes() == await rig.fresh_planes(away)
        assert rig.sim.label(away).planes() == rig.sim.label(present).planes()


async def test_scheduled_promotion_switches_on_and_off_without_another_message(
    broker: LocalBroker, store_id: str, tmp_path
):
    """A promotion starting in 2 s and ending 3 s later reaches the label at both times."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        start = datetime.now(UTC) + timedelta(seconds=2)
        promotion = {
            "price": "7.99",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(seconds=3)).isoformat(),
            "text": "Haftanın fırsatı",
        }
        await rig.publish_item(item("TR-P", "9.99", promotion=promotion))
        await _receipts(rig, 1)
        label = rig.labels[0]
        await rig.ctl.operations.link(label, "TR-P", actor="test")
        await rig.converged()
        regular = rig.sim.label(label).displayed_hash
        state = await label_state(rig.ctl.conn, label)
        assert state is not None
        first_revision = state.desired_revision

        async def shows_other_than(content: bytes) -> bool:
            shown = rig.sim.label(label).displayed_hash
            return shown != content and not await rig.unconverged([label])

        await rig.wait_until(lambda: shows_other_than(regular), 10, "the promotion to start")
        assert datetime.now(UTC) >= start
        promoted = rig.sim.label(label).displayed_hash
        assert rig.sim.label(label).planes() == await rig.fresh_planes(label)
        await rig.wait_until(lambda: shows_other_than(promoted), 10, "the promotion to end")
        assert rig.sim.label(label).displayed_hash == regular  # the same image as before
        state = await label_state(rig.ctl.conn, label)
        assert state is not None
        assert state.desired_revision == first_revision + 2


async def test_a_device_the_registry_does_not_know_is_asked_for_a_rebirth(
    broker: LocalBroker, store_id: str, tmp_path
):
    """Telemetry from a device missing from the registry makes the controller ask for a Birth,
    after which the device is registered again."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        label = rig.labels[0]
        await rig.ctl.conn.execute("DELETE FROM devices WHERE device_id = ?", (label,))

        def telemetry(gateway: Gateway, now: float) -> list[Outgoing]:
            return [Outgoing(label, Telemetry(7, 2900, -60, 215))]

        rig.sim.act(label, telemetry)

        async def registered() -> bool:
            found = await device(rig.ctl.conn, label)
            return found is not None and found.online

        await rig.wait_until(registered, what="the rebirth")


async def test_unlinked_label_is_blanked_and_leaves_the_price_audit(
    broker: LocalBroker, store_id: str, tmp_path
):
    """Unlinking blanks the label (no unmaintained price stays up) and it is then confirmed."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        await rig.publish_item(item("TR-U", "4.40"))
        await _receipts(rig, 1)
        label = rig.labels[0]
        await rig.ctl.operations.link(label, "TR-U", actor="test")
        await rig.converged()
        assert set(rig.sim.label(label).pixels()) != {0}
        await rig.ctl.operations.unlink(label, actor="test")

        async def blank() -> bool:
            return set(rig.sim.label(label).pixels()) == {0}

        async def audit_clean() -> bool:
            return await unconfirmed_labels(rig.ctl.conn) == []

        await rig.wait_until(blank, what="the blank image")
        await rig.wait_until(audit_clean, what="the report confirming the blank image")


async def test_a_label_that_lost_its_image_is_caught_up_at_its_birth(
    broker: LocalBroker, store_id: str, tmp_path
):
    """A label that boots blank (a replaced unit) is no longer counted as confirmed and gets
    its desired image again."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        await rig.publish_item(item("TR-L", "2.20"))
        await _receipts(rig, 1)
        label = rig.labels[0]
        await rig.ctl.operations.link(label, "TR-L", actor="test")
        await rig.converged()
        desired = rig.sim.label(label).displayed_hash
        state = await label_state(rig.ctl.conn, label)
        assert state is not None

        def replaced(gateway: Gateway, now: float) -> list[Outgoing]:
            unit = rig.sim.label(label)
            unit.images.clear()
            unit.revision, unit.displayed_hash = 0, NO_HASH
            return [Outgoing(label, m) for m in unit.boot(now)]

        rig.sim.act(label, replaced)
        await rig.wait_until(lambda: _shows(rig, label, desired), what="the image again")
        assert rig.sim.label(label).revision == state.desired_revision
        assert rig.sim.label(label).planes() == await rig.fresh_planes(label)


async def _shows(rig: Store, label: str, content: bytes) -> bool:
    return rig.sim.label(label).displayed_hash == content
