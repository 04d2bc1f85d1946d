"""Shoppers' scans in a real SQLite file: an item and an hour per row, counted and ranked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from controller.state.database import open_database
from controller.state.scans_repo import ScanCount, most_scanned, record_scan, scans_of_item

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
