"""Issue 12, finding 6 over the real Mosquitto: a change without a version cannot lower the
stored version, so a replayed older version from HQ stays stale and the price never goes back."""

from __future__ import annotations

from controller.local_broker import LocalBroker
from controller.state.catalog_repo import get_item
from tests.support.store_kit import Store, item, store_with_labels


async def _receipt_for(rig: Store, count: int) -> dict:  # type: ignore[type-arg]
    async def arrived() -> bool:
        return sum(1 for t, _ in rig.statuses if t.endswith("/receipt")) >= count

    await rig.wait_until(arrived, what=f"{count} receipts")
    return [body for topic, body in rig.statuses if topic.endswith("/receipt")][-1]


async def test_finding_6_a_versionless_change_keeps_the_version_and_a_replay_is_stale(
    broker: LocalBroker, store_id: str, tmp_path
):
    """Version 5 from HQ, then a versionless change (feed), then a replayed version 3: the
    replay is stale, the stored version stays 5 and the price the versionless change set."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        await rig.publish_item(item("TR-6", "10.00", version=5))
        await _receipt_for(rig, 1)
        await rig.publish_item(item("TR-6", "9.00"))
        assert (await _receipt_for(rig, 2))["accepted"] == 1
        await rig.publish_item(item("TR-6", "1.00", version=3))
        replay = await _receipt_for(rig, 3)
        assert (replay["stale"], replay["accepted"], replay.get("version")) == (1, 0, 3)
        stored = await get_item(rig.ctl.conn, "TR-6")
        assert stored is not None
        assert (stored.version, str(stored.price)) == (5, "9.00")
