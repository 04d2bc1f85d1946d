"""The demo HQ: its changes are valid items, versioned, of every kind, in the feed's format."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from controller.catalog.feed import Upsert, parse_catalog_message
from controller.demo.catalog import demo_catalog
from controller.demo.hq import BATCH_EVERY, BATCH_SIZE, CatalogChanges, DemoHq

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_changes_are_valid_and_versioned() -> None:
    """Each change of an item is the next version of it; every kind of change happens."""
    items = demo_catalog(NOW)
    versions = {i.sku: i.version or 0 for i in items}
    changes = CatalogChanges(items, seed=2)
    kinds: Counter[str] = Counter()
    for tick in range(200):
        now = NOW + timedelta(seconds=3 * tick)
        for change in changes.next_changes(now):
            kinds[change.kind] += 1
            assert change.item.version == versions[change.sku] + 1, change
            versions[change.sku] += 1
            promo = change.item.promotion
            if change.kind == "promotion-start":
                assert promo is not None
                assert change.item.promotion_at(now) is promo
                assert promo.price < change.item.price
            if change.kind in {"promotion-end", "price"}:
                assert change.item.promotion_at(now) is None
    assert set(kinds) == {"price", "promotion-start", "promotion-end", "stock"}
    assert all(changes.items[sku].version == version for sku, version in versions.items())


def test_stock_changes_cross_the_low_stock_threshold() -> None:
    """A stock change takes an item below its threshold, or restocks one that was low."""
    items = demo_catalog(NOW)
    changes = CatalogChanges(items, seed=5)
    for _ in range(30):
        before = dict(changes.items)
        change = changes.stock_change(NOW)
        assert change is not None
        assert change.item.stock is not None
        old = before[change.sku].stock
        assert old is not None
        was_low = (old.quantity or 0) <= old.low_threshold
        now_low = (change.item.stock.quantity or 0) <= change.item.stock.low_threshold
        assert was_low != now_low


def test_messages_parse_as_the_controller_reads_them() -> None:
    """A single change goes to catalog/item/{sku}, a batch to catalog/batch; both parse."""
    items = demo_catalog(NOW)
    hq = DemoHq("kadikoy", items, seed=1)
    single = hq.changes.price_change(NOW)
    assert single is not None
    [(topic, payload)] = hq.messages([single], 1)
    assert topic == f"omnishelf/kadikoy/catalog/item/{single.sku}"
    parsed = parse_catalog_message("kadikoy", topic, payload)
    assert not parsed.rejected
    assert parsed.changes == (Upsert(single.item),)
    for _ in range(BATCH_EVERY - 1):
        hq.changes.next_changes(NOW)
    batch = hq.changes.next_changes(NOW)
    assert len(batch) == BATCH_SIZE
    [(topic, payload)] = hq.messages(batch, hq.changes.ticks)
    assert topic == "omnishelf/kadikoy/catalog/batch"
    assert json.loads(payload)["batch_id"]
    parsed = parse_catalog_message("kadikoy", topic, payload)
    assert not parsed.rejected
    assert len(parsed.changes) == BATCH_SIZE
