"""Issue 12, finding 10 over the real Mosquitto: every receipt names the message it answers, so
HQ can tell which of several batches on the one batch topic were stored."""

from __future__ import annotations

from controller.local_broker import LocalBroker
from tests.support.store_kit import item, store_with_labels


async def test_finding_10_receipts_name_each_batch_and_item(
    broker: LocalBroker, store_id: str, tmp_path
):
    """Two batches on the same topic and an item get receipts carrying batch_id, or SKU and
    version, with the counts; HQ can match each to what it published."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        first = [{"op": "upsert", "item": item("TR-A", "5.00", version=1)}]
        second = [
            {"op": "upsert", "item": item("TR-A", "6.00", version=2)},
            {"op": "upsert", "item": item("TR-B", "bad")},
        ]
        await rig.publish("batch", {"batch_id": "hq-0001", "changes": first})
        await rig.publish("batch", {"batch_id": "hq-0002", "changes": second})
        await rig.publish_item(item("TR-C", "7.00", version=9))

        async def all_receipted() -> bool:
            return sum(1 for t, _ in rig.statuses if t.endswith("/receipt")) >= 3

        await rig.wait_until(all_receipted, what="3 receipts")
        receipts = [body for topic, body in rig.statuses if topic.endswith("/receipt")]
        by_batch = {r.get("batch_id"): r for r in receipts if "batch_id" in r}
        assert (by_batch["hq-0001"]["accepted"], by_batch["hq-0001"]["rejected"]) == (1, 0)
        assert (by_batch["hq-0002"]["accepted"], by_batch["hq-0002"]["rejected"]) == (1, 1)
        [single] = [r for r in receipts if r.get("sku") == "TR-C"]
        assert (single["version"], single["accepted"]) == (9, 1)
        assert single["topic"].endswith("/catalog/item/TR-C")
