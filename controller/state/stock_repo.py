"""The store's stock as its shelves count it, what goes to HQ about it, and the labels it changes
(docs/shelves.md "Stock", docs/catalog.md "Stock upstream").

- shelf_stock: each linked lane's count and state (ok / low / out, with the pipeline's
  hysteresis), as last counted;
- an item's shelf stock is the sum of its lanes: "out" when every counted lane is out, "low"
  when none is ok, else "ok". When an item's shelf state changes, its labels are queued for
  rendering in the same transaction (their stock badge follows it);
- stock_upstream: one row per count change (a sale, a restock, a staff count, a lane's first
  count), in the store's sequence (`seq`, AUTOINCREMENT: a rolled-back change takes no number,
  so HQ sees no gap that is not a loss). The publisher (controller/upstream.py) sends them in
  order and records what the broker acknowledged.

`apply_stock_in` runs inside the shelves' unit of work (state/shelves_repo.py), which also opens
and resolves the lanes' alerts (state/alerts_repo.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from controller.state.alerts_repo import AlertKind, NewAlert, open_alert_in, resolve_alerts_in
from controller.state.database import in_chunks
from controller.state.labels_repo import Priority
from controller.state.render_queue import queue_renders
from controller.state.units import run_read, run_unit

STATES = ("ok", "low", "out")
UPSTREAM_KEPT_DAYS = 7  # acknowledged upstream rows kept this long (GET /api/v1/stock shows them)


@dataclass(frozen=True, slots=True)
class LaneStock:
    """A lane's count after a change, and what changed it."""

    device_id: str
    lane: int
    sku: str
    count: int
    state: str  # ok / low / out
    units: int | None  # the change in units (a sale < 0); None: a count, not a change
    cause: str  # sale, restock, count (staff), initial (the lane's first count)
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertChange:
    """Open an alert, or resolve the unresolved ones of some kinds about a subject."""

    open: NewAlert | None
    resolve: tuple[AlertKind, ...]
    subject: str
    by: str  # who resolves: "shelf" (the sensor says so)


@dataclass(frozen=True, slots=True)
class ShelfSummary:
    sku: str
    count: int
    state: str  # ok / low / out
    lanes: int  # counted lanes


@dataclass(frozen=True, slots=True)
class StockOutcome:
    upstream: int  # rows added for HQ
    alerts: int  # alerts opened or resolved
    relabelled: tuple[str, ...]  # items whose shelf state changed: their labels were queued


def summary_of(sku: str, lanes: Sequence[tuple[int | None, str | None]]) -> ShelfSummary | None:
    """An item's shelf stock from its lanes' (count, state); None when no lane is counted."""
    counted = [(count, state) for count, state in lanes if count is not None and state]
    if not counted:
        return None
    states = {state for _, state in counted}
    state = "out" if states == {"out"} else "ok" if "ok" in states else "low"
    return ShelfSummary(sku, sum(count for count, _ in counted), state, len(counted))


def _summary(db: sqlite3.Connection, sku: str) -> ShelfSummary | None:
    rows = db.execute("SELECT count, state FROM shelf_stock WHERE sku = ?", (sku,)).fetchall()
    return summary_of(sku, [(row[0], row[1]) for row in rows])


def _labels_of(db: sqlite3.Connection, sku: str) -> list[str]:
    rows = db.execute(
        "SELECT b.device_id FROM bindings b JOIN devices d USING (device_id)"
        " WHERE d.adopted = 1 AND b.sku = ?",
        (sku,),
    ).fetchall()
    return [row[0] for row in rows]


def apply_stock_in(
    db: sqlite3.Connection,
    changes: Sequence[LaneStock],
    alert_changes: Sequence[AlertChange],
    at: datetime,
) -> StockOutcome:
    """Record lane counts (upstream rows for HQ, labels of items whose state changed) and alert
    changes, inside the caller's transaction."""
    before: dict[str, ShelfSummary | None] = {}
    upstream = 0
    for change in changes:
        if change.sku not in before:
            before[change.sku] = _summary(db, change.sku)
        db.execute(
            "INSERT INTO shelf_stock (device_id, lane, sku, count, state, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, lane) DO UPDATE SET"
            " sku = excluded.sku, count = excluded.count, state = excluded.state,"
            " updated_at = excluded.updated_at",
            (
                change.device_id,
                change.lane,
                change.sku,
                change.count,
                change.state,
                change.at.isoformat(),
            ),
        )
        shelf = _summary(db, change.sku)
        assert shelf is not None  # this lane was just counted
        document = {
            "sku": change.sku,
            "at": change.at.isoformat(),
            "shelf": {"count": shelf.count, "state": shelf.state, "lanes": shelf.lanes},
            "change": {
                "cause": change.cause,
                "units": change.units,
                "device_id": change.device_id,
                "lane": change.lane,
                "lane_count": change.count,
            },
        }
        db.execute(
            "INSERT INTO stock_upstream (sku, document, at) VALUES (?, ?, ?)",
            (change.sku, json.dumps(document, sort_keys=True), change.at.isoformat()),
        )
        upstream += 1
    relabelled = []
    for sku, was in before.items():
        now = _summary(db, sku)
        if (was.state if was else None) != (now.state if now else None):
            queue_renders(
                db, _labels_of(db, sku), priority=Priority.SINGLE, reason="shelf stock", at=at
            )
            relabelled.append(sku)
    changed = 0
    for alert in alert_changes:
        if alert.resolve:
            changed += resolve_alerts_in(db, alert.resolve, alert.subject, alert.by, at)
        if alert.open is not None:
            changed += int(open_alert_in(db, alert.open, at))
    return StockOutcome(upstream, changed, tuple(relabelled))


def forget_lane_in(
    db: sqlite3.Connection, device_id: str, lane: int, by: str, at: datetime
) -> bool:
    """An unlinked lane: its count leaves its item's stock (labels queued if the item's state
    changes) and its alerts are resolved; True if it had a count."""
    row = db.execute(
        "SELECT sku FROM shelf_stock WHERE device_id = ? AND lane = ?", (device_id, lane)
    ).fetchone()
    resolve_alerts_in(db, tuple(AlertKind), f"{device_id}/{lane}", by, at)
    if row is None:
        return False
    sku = row[0]
    was = _summary(db, sku)
    db.execute("DELETE FROM shelf_stock WHERE device_id = ? AND lane = ?", (device_id, lane))
    now = _summary(db, sku)
    if (was.state if was else None) != (now.state if now else None):
        queue_renders(
            db, _labels_of(db, sku), priority=Priority.SINGLE, reason="shelf stock", at=at
        )
    return True


# ---- reads -------------------------------------------------------------------------------------


async def shelf_summaries(
    conn: aiosqlite.Connection, skus: Sequence[str]
) -> dict[str, ShelfSummary]:
    """The shelf stock of those of `skus` that a counted lane holds (the render stage asks this of
    every round's items)."""
    if not skus:
        return {}
    return await run_read(conn, _summaries, tuple(skus))


def _summaries(db: sqlite3.Connection, skus: tuple[str, ...]) -> dict[str, ShelfSummary]:
    lanes: dict[str, list[tuple[int | None, str | None]]] = {}
    for part, marks in in_chunks(skus):
        rows = db.execute(
            f"SELECT sku, count, state FROM shelf_stock WHERE sku IN ({marks})",  # noqa: S608
            part,
        ).fetchall()
        for sku, count, state in rows:
            lanes.setdefault(sku, []).append((count, state))
    found = {sku: summary_of(sku, rows) for sku, rows in lanes.items()}
    return {sku: summary for sku, summary in found.items() if summary is not None}


@dataclass(frozen=True, slots=True)
class LaneStockRow:
    device_id: str
    lane: int
    count: int | None
    state: str | None
    updated_at: datetime


async def lanes_of_item(conn: aiosqlite.Connection, sku: str) -> list[LaneStockRow]:
    return await run_read(conn, _lanes_of_item, sku)


def _lanes_of_item(db: sqlite3.Connection, sku: str) -> list[LaneStockRow]:
    rows = db.execute(
        "SELECT device_id, lane, count, state, updated_at FROM shelf_stock WHERE sku = ?"
        " ORDER BY device_id, lane",
        (sku,),
    ).fetchall()
    return [LaneStockRow(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4])) for r in rows]


@dataclass(frozen=True, slots=True)
class UpstreamRow:
    seq: int
    sku: str
    document: dict[str, Any]
    sent_at: datetime | None


async def upstream_of_item(
    conn: aiosqlite.Connection, sku: str, limit: int = 20
) -> list[UpstreamRow]:
    """The item's last upstream messages, newest first."""
    return await run_read(conn, _upstream_of_item, sku, limit)


def _upstream_of_item(db: sqlite3.Connection, sku: str, limit: int) -> list[UpstreamRow]:
    rows = db.execute(
        "SELECT seq, sku, document, sent_at FROM stock_upstream WHERE sku = ?"
        " ORDER BY seq DESC LIMIT ?",
        (sku, limit),
    ).fetchall()
    return [_upstream(row) for row in rows]


def _upstream(row: Sequence[Any]) -> UpstreamRow:
    sent = None if row[3] is None else datetime.fromisoformat(row[3])
    return UpstreamRow(row[0], row[1], json.loads(row[2]), sent)


async def unsent_upstream(conn: aiosqlite.Connection, limit: int) -> list[UpstreamRow]:
    """The oldest rows the broker has not acknowledged yet, in sequence."""
    return await run_read(conn, _unsent, limit)


def _unsent(db: sqlite3.Connection, limit: int) -> list[UpstreamRow]:
    rows = db.execute(
        "SELECT seq, sku, document, sent_at FROM stock_upstream WHERE sent_at IS NULL"
        " ORDER BY seq LIMIT ?",
        (limit,),
    ).fetchall()
    return [_upstream(row) for row in rows]


async def mark_upstream_sent(
    conn: aiosqlite.Connection, seqs: Sequence[int], at: datetime, keep_since: datetime
) -> None:
    """Record what the broker acknowledged; forget acknowledged rows older than `keep_since`."""
    await run_unit(conn, _mark_sent, tuple(seqs), at.isoformat(), keep_since.isoformat())


def _mark_sent(db: sqlite3.Connection, seqs: tuple[int, ...], at: str, keep_since: str) -> None:
    db.executemany(
        "UPDATE stock_upstream SET sent_at = ? WHERE seq = ?", [(at, seq) for seq in seqs]
    )
    # The newest row always stays: AUTOINCREMENT would not reuse its number anyway, and
    # GET /api/v1/stock shows the last sequence sent.
    db.execute(
        "DELETE FROM stock_upstream WHERE sent_at IS NOT NULL AND at < ?"
        " AND seq < (SELECT max(seq) FROM stock_upstream)",
        (keep_since,),
    )


@dataclass(frozen=True, slots=True)
class UpstreamPosition:
    last_seq: int | None  # the store's last sequence number given
    last_sent_seq: int | None  # the last one the broker acknowledged
    unsent: int


async def upstream_position(conn: aiosqlite.Connection) -> UpstreamPosition:
    return await run_read(conn, _position)


def _position(db: sqlite3.Connection) -> UpstreamPosition:
    last, sent, unsent = db.execute(
        "SELECT max(seq), max(CASE WHEN sent_at IS NOT NULL THEN seq END),"
        " count(*) - count(sent_at) FROM stock_upstream"
    ).fetchone()
    return UpstreamPosition(last, sent, unsent or 0)
