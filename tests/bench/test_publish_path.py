"""The publish-path benchmark runs both ways against the real broker and reports CPU per label."""

from __future__ import annotations

from bench import publish_path
from controller.local_broker import LocalBroker


async def test_both_ways_publish_every_offer_and_report_their_cpu(broker: LocalBroker) -> None:
    results = await publish_path.measure(300, 2, broker)
    assert set(results) == {"per message", "batches"}
    for values in results.values():
        assert len(values) == 2
        assert all(0 < value < 50 for value in values), values
