"""Shoppers' QR scans (the `scans` table): one row per scan of a label's QR code, and the counts
staff see in the console (an item's scans of the last days, the most scanned items).

A row keeps the item and the hour of the scan, nothing about the shopper: no address, no user
agent, no cookie (GDPR Art. 5(1)(c), data minimisation: the counts need nothing else). The
table's `user_agent` column (migration 1) is no longer written; rows written before keep theirs.
Which label was scanned is not known: the QR code names the store and the item, not the label
(docs/shopper-page.md). A row keeps the aisle when every label of the item hangs in one aisle
(`aisle_of`), else none.

A row with `from_sku` is not a scan but a look: a shopper on `from_sku`'s page followed its link
to another size or colour (`/q/{store}/{sku}?from=...`). Scan counts leave looks out; `next_looks`
counts them: which items shoppers look for in another size after scanning a label.

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


@dataclass(frozen=True, slots=True)
class AisleCount:
    aisle: str | None  # None: the item's labels are in several aisles, or in none
    scans: int


@dataclass(frozen=True, slots=True)
class Look:
    from_sku: str  # the page the shopper was on
    sku: str  # the size or colour they opened from it
    looks: int


def hour_of(at: datetime) -> datetime:
    """The hour a scan is recorded at, in UTC (stored as text, compared as text): finer times
    say more about a shopper than the counts need."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def record_scan(
    conn: aiosqlite.Connection,
    sku: str,
    at: datetime,
    *,
    aisle: str | None = None,
    from_sku: str | None = None,
) -> None:
    """A scan of `sku`'s label (in `aisle` when known), or with `from_sku` a look at it."""
    await run_unit(conn, _record, sku, hour_of(at).isoformat(), aisle, from_sku)


def _record(
    db: sqlite3.Connection, sku: str, at: str, aisle: str | None, from_sku: str | None
) -> None:
    db.execute(
        "INSERT INTO scans (at, sku, aisle, from_sku) VALUES (?, ?, ?, ?)",
        (at, sku, aisle, from_sku),
    )


async def scans_of_item(conn: aiosqlite.Connection, sku: str, since: datetime) -> int:
    """How often `sku` was scanned from the hour of `since` on."""
    return await run_read(conn, _of_item, sku, hour_of(since).isoformat())


def _of_item(db: sqlite3.Connection, sku: str, since: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM scans WHERE sku = ? AND at >= ? AND from_sku IS NULL", (sku, since)
    ).fetchone()
    return int(row[0])


async def most_scanned(
    conn: aiosqlite.Connection, since: datetime, limit: int = 10
) -> list[ScanCount]:
    """The items scanned most often from the hour of `since` on, most first (then by SKU)."""
    return await run_read(conn, _most, hour_of(since).isoformat(), limit)


def _most(db: sqlite3.Connection, since: str, limit: int) -> list[ScanCount]:
    rows = db.execute(
        "SELECT sku, count(*) AS n FROM scans WHERE at >= ? AND from_sku IS NULL GROUP BY sku"
        " ORDER BY n DESC, sku LIMIT ?",
        (since, limit),
    ).fetchall()
    return [ScanCount(row[0], int(row[1])) for row in rows]


async def scans_by_aisle(conn: aiosqlite.Connection, since: datetime) -> list[AisleCount]:
    """Scans per aisle from the hour of `since` on, most first; the unknown aisle last."""
    return await run_read(conn, _by_aisle, hour_of(since).isoformat())


def _by_aisle(db: sqlite3.Connection, since: str) -> list[AisleCount]:
    rows = db.execute(
        "SELECT aisle, count(*) AS n FROM scans WHERE at >= ? AND from_sku IS NULL"
        " GROUP BY aisle ORDER BY aisle IS NULL, n DESC, aisle",
        (since,),
    ).fetchall()
    return [AisleCount(row[0], int(row[1])) for row in rows]


async def next_looks(
    conn: aiosqlite.Connection, since: datetime, *, from_sku: str | None = None, limit: int = 10
) -> list[Look]:
    """The sizes and colours shoppers opened from an item's page (from `from_sku`'s only, when
    given), from the hour of `since` on, most first."""
    return await run_read(conn, _looks, hour_of(since).isoformat(), from_sku, limit)


def _looks(db: sqlite3.Connection, since: str, from_sku: str | None, limit: int) -> list[Look]:
    rows = db.execute(
        "SELECT from_sku, sku, count(*) AS n FROM scans WHERE from_sku IS NOT NULL"
        " AND (? IS NULL OR from_sku = ?) AND at >= ?"
        " GROUP BY from_sku, sku ORDER BY n DESC, from_sku, sku LIMIT ?",
        (from_sku, from_sku, since, limit),
    ).fetchall()
    return [Look(row[0], row[1], int(row[2])) for row in rows]
