"""Shoppers' scans in a real SQLite file: an item and an hour per row, counted and ranked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from controller.state.database import open_database
from controller.state.scans_repo import (
    AisleCount,
    Look,
    ScanCount,
    most_scanned,
    next_looks,
    record_scan,
    scans_by_aisle,
    scans_of_item,
)

T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)


async def test_scans_are_counted_per_item_over_the_last_days(tmp_path: Path) -> None:
    """A row keeps the UTC hour only; counts take the scans from the hour of `since` on, and the
    ranking is by count, then by SKU."""
    async with open_database(tmp_path / "s.db") as conn:
        istanbul = timezone(timedelta(hours=3))
        await record_scan(conn, "A", (T0 + timedelta(minutes=59, seconds=59)).astimezone(istanbul))
        for sku, days_ago in [("A", 1), ("A", 6), ("B", 2), ("B", 3), ("C", 5), ("A", 8)]:
            await record_scan(conn, sku, T0 - timedelta(days=days_ago))
        async with conn.execute("SELECT at FROM scans ORDER BY id LIMIT 1") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] == T0.isoformat()
        week_ago = T0 - timedelta(days=7, minutes=-30)  # counted from the hour: 09:00 a week ago
        assert await scans_of_item(conn, "A", week_ago) == 3
        assert await scans_of_item(conn, "Z", week_ago) == 0
        assert await most_scanned(conn, week_ago) == [
            ScanCount("A", 3),
            ScanCount("B", 2),
            ScanCount("C", 1),
        ]
        assert await most_scanned(conn, week_ago, limit=1) == [ScanCount("A", 3)]


async def test_scans_per_aisle_and_looks_at_other_sizes(tmp_path: Path) -> None:
    """Scans count per aisle (the unknown aisle last); looks (`from_sku`) are not scans, and
    count per pair, from one item's page or from all."""
    async with open_database(tmp_path / "s.db") as conn:
        for sku, aisle in [("A", "Reyon 1"), ("A", "Reyon 1"), ("B", "Reyon 2"), ("C", None)]:
            await record_scan(conn, sku, T0, aisle=aisle)
        for sku, from_sku in [("A2", "A"), ("A2", "A"), ("A3", "A"), ("B2", "B")]:
            await record_scan(conn, sku, T0, from_sku=from_sku)
        await record_scan(conn, "A2", T0 - timedelta(days=9), from_sku="A")  # too old
        since = T0 - timedelta(days=7)
        assert await scans_by_aisle(conn, since) == [
            AisleCount("Reyon 1", 2),
            AisleCount("Reyon 2", 1),
            AisleCount(None, 1),
        ]
        assert await scans_of_item(conn, "A2", since) == 0  # looked at, never scanned
        assert [c.sku for c in await most_scanned(conn, since)] == ["A", "B", "C"]
        assert await next_looks(conn, since) == [
            Look("A", "A2", 2),
            Look("A", "A3", 1),
            Look("B", "B2", 1),
        ]
        assert await next_looks(conn, since, from_sku="B") == [Look("B", "B2", 1)]
        assert await next_looks(conn, since, limit=1) == [Look("A", "A2", 2)]
