"""The applied prices of a render round's items in one read: the same histories as one query
per SKU, each oldest first, and SKUs with no history left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from controller.state.catalog_repo import (
    applied_prices,
    applied_prices_of,
    record_applied_prices,
)
from controller.state.database import open_database

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_many_skus_read_at_once_match_one_read_each(tmp_path: Path) -> None:
    """applied_prices_of(skus) == {sku: applied_prices(sku)} for SKUs with a history, over
    more SKUs than one IN (...) holds."""
    skus = [f"SKU-{i:04d}" for i in range(1200)]
    async with open_database(tmp_path / "state.db") as db:
        for day in range(3):
            at = T0 + timedelta(days=day)
            prices = [(sku, Decimal(10 + day + i % 7), "TRY") for i, sku in enumerate(skus)]
            await record_applied_prices(db, prices[day * 100 :], at)
        found = await applied_prices_of(db, [*skus, "NOPE", skus[0]])
        one_by_one = {sku: await applied_prices(db, sku) for sku in skus}
    assert found == one_by_one
    assert "NOPE" not in found
    assert [len(found[s]) for s in (skus[0], skus[150], skus[250])] == [1, 2, 3]
