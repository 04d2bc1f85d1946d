"""A store-wide batch does not hold up a price fix, and arrival order still decides."""

from __future__ import annotations

from controller.catalog.feed import Delete, Upsert
from controller.catalog.items import CatalogItem
from controller.local_broker import LocalBroker
from controller.pipeline.intake import PART, _LargeBatch
from controller.state.catalog_repo import get_item
from tests.support.store_kit import Store, item, store_with_labels

BATCH = 3 * PART


def _upsert(sku: str, version: int | None) -> Upsert:
    return Upsert(CatalogItem.model_validate(item(sku, "1.00", version=version)))


def test_a_later_change_supersedes_a_batch_change_unless_the_batch_is_newer_by_version():
    """Unversioned on either side: the later message wins; both versioned: the newer one."""
    pending = _LargeBatch(arrival=1)
    pending.changed_later = {"A": None, "B": 5, "C": 5, "D": 5}
    assert not pending.keeps(_upsert("A", 9))  # the later one has no version: arrival order
    assert not pending.keeps(_upsert("B", None))
    assert not pending.keeps(_upsert("C", 4))  # older than the later message's
    assert pending.keeps(_upsert("D", 6))  # newer: the later message was stale
    assert pending.keeps(_upsert("E", None))  # nobody changed it meanwhile
    assert not pending.keeps(Delete("C", 5))


async def _receipts(rig: Store, count: int) -> list[dict]:  # type: ignore[type-arg]
    async def arrived() -> bool:
        return sum(1 for t, _ in rig.statuses if t.endswith("/receipt")) >= count

    await rig.wait_until(arrived, within_s=60, what=f"{count} receipts")
    return [body for topic, body in rig.statuses if topic.endswith("/receipt")]


async def test_a_change_published_after_a_large_batch_is_stored_before_the_batch_ends(
    broker: LocalBroker, store_id: str, tmp_path
):
    """A single change sent right after a 3,000-change batch is stored (and receipted) before the
    batch has been stored whole; where both change one item without versions, the later one is
    what stays."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        changes = [{"op": "upsert", "item": item(f"TR-{n:05d}", "10.00")} for n in range(BATCH)]
        await rig.publish("batch", {"batch_id": "reprice", "changes": changes})
        await rig.publish_item(item(f"TR-{BATCH - 1:05d}", "99.00"))  # in the batch's last part
        await rig.publish_item(item("TR-SOLO", "5.00"))
        receipts = await _receipts(rig, 3)
        topics = [r["topic"].rsplit("/", 1)[-1] for r in receipts]
        assert topics.index("TR-SOLO") < topics.index("batch"), topics
        batch = next(r for r in receipts if r["topic"].endswith("/batch"))
        assert batch["accepted"] + batch["stale"] == BATCH
        assert batch["stale"] == 1  # superseded by the later single change
        last = await get_item(rig.ctl.conn, f"TR-{BATCH - 1:05d}")
        assert last is not None
        assert str(last.price) == "99.00"
        assert await get_item(rig.ctl.conn, "TR-00000") is not None
