"""Shoppers' QR scans (the `scans` table): one row per scan of a label's QR code, and the counts
staff see in the console (an item's scans of the last days, the most scanned items).

A row keeps the item and the hour of the scan, nothing about the shopper: no address, no user
agent, no cookie (GDPR Art. 5(1)(c), data minimisation: the counts need nothing else). The
table's `user_agent` column (migration 1) is no longer written; rows written before keep theirs.
Which label was scanned is not known: the QR code names the store and the item, not the label
(docs/shopper-page.md).

The table has no index on `at` (migrations are schema.py's): a count reads the whole table,
which the scan rate limits bound (controller/api/rate_limits.py).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from controller.state.units import run_read, run_unit


@dataclass(frozen=True, slots=True)
class ScanCount:
    sku: str
    scans: int


def hour_of(at: datetime) -> datetime:
    """The hour a scan is recorded at, in UTC (stored as text, compared as text): finer times
    say more about a shopper than the counts need."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def record_scan(conn: aiosqlite.Connection, sku: str, at: datetime) -> None:
    await run_unit(conn, _record, sku, hour_of(at).isoformat())


def _record(db: sqlite3.Connection, sku: str, at: str) -> None:
    db.execute("INSERT INTO scans (at, sku) VALUES (?, ?)", (at, sku))


async def scans_of_item(conn: aiosqlite.Connection, sku: str, since: datetime) -> int:
    """How often `sku` was scanned from the hour of `since` on."""
    return await run_read(conn, _of_item, sku, hour_of(since).isoformat())


def _of_item(db: sqlite3.Connection, sku: str, since: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM scans WHERE sku = ? AND at >= ?", (sku, since)
    ).fetchone()
    return int(row[0])


async def most_scanned(
    conn: aiosqlite.Connection, since: datetime, limit: int = 10
) -> list[ScanCount]:
    """The items scanned most often from the hour of `since` on, most first (then by SKU)."""
    return await run_read(conn, _most, hour_of(since).isoformat(), limit)


def _most(db: sqlite3.Connection, since: str, limit: int) -> list[ScanCount]:
    rows = db.execute(
        "SELECT sku, count(*) AS n FROM scans WHERE at >= ? GROUP BY sku"
        " ORDER BY n DESC, sku LIMIT ?",
        (since, limit),
    ).fetchall()
    return [ScanCount(row[0], int(row[1])) for row in rows]
