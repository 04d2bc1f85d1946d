"""What sells after a try, in a real SQLite file: HQ's store stock going down is recorded as
units sold per hour (catalog_repo), and the rooms' "tried most, bought least" reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controller.catalog.items import CatalogItem
from controller.state.catalog_repo import store_items
from controller.state.database import open_database
from controller.state.rooms_repo import Brought, item_brought_in, item_taken_out, room_stats

T0 = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def jacket(sku: str, version: int, quantity: int | None) -> CatalogItem:
    body: dict[str, Any] = {
        "sku": sku,
        "version": version,
        "name": "Ceket",
        "currency": "TRY",
        "price": "1999.00",
    }
    if quantity is not None:
        body["stock"] = {"quantity": quantity}
    return CatalogItem.model_validate(body)


async def _sold(conn: Any) -> list[tuple[str, str, int]]:
    async with conn.execute("SELECT sku, at, units FROM stock_sold ORDER BY sku, at") as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def test_store_stock_going_down_is_recorded_as_sold(tmp_path: Path) -> None:
    """Down: sold, summed per hour (a SKU twice in one batch too); up (a restock), a stale
    version, an item with no quantity before or now: nothing."""
    async with open_database(tmp_path / "s.db") as conn:
        await store_items(conn, [jacket("A", 1, 10), jacket("B", 1, None)], T0)
        await store_items(conn, [jacket("A", 2, 8), jacket("A", 3, 7)], T0)
        await store_items(conn, [jacket("A", 1, 0)], T0)  # stale: not stored, not sold
        await store_items(conn, [jacket("A", 4, 12)], T0)  # a restock
        await store_items(conn, [jacket("B", 2, 4)], T0)  # no quantity before
        await store_items(conn, [jacket("A", 5, 11), jacket("B", 3, None)], T0 + timedelta(hours=1))
        assert await _sold(conn) == [
            ("A", "2026-11-22T09:00:00+00:00", 3),
            ("A", "2026-11-22T10:00:00+00:00", 1),
        ]


async def test_tried_most_bought_least(tmp_path: Path) -> None:
    """Items tried at least three times, the fewest sold per try first; sales before the period
    do not count; an item tried twice is not listed."""
    async with open_database(tmp_path / "s.db") as conn:
        await store_items(conn, [jacket(s, 1, 20) for s in ["A", "B", "C"]], T0)
        await store_items(conn, [jacket("B", 2, 18)], T0 - timedelta(days=2))  # before: not counted
        await store_items(conn, [jacket("A", 2, 17), jacket("B", 3, 17)], T0)
        tries = {"A": 3, "B": 4, "C": 2}
        n = 0
        for sku, times in tries.items():
            for _ in range(times):
                n += 1
                code = f"tag-{n}"
                room = f"fr-{n}"
                await item_brought_in(conn, room, Brought(code, None, sku), T0)
                await item_taken_out(conn, room, code, T0)
        stats = await room_stats(conn, T0 - timedelta(days=1))
        assert stats.least_bought == (("B", 4, 1), ("A", 3, 3))
        assert dict(stats.most_tried) == tries
