"""Fitting rooms' state: visits (sessions), the garments brought in, and the catalog reads a room's
answer needs (an item by its GTIN, the other variants of its style); at the end, what is inside
a room now (the console's kiosk page and room list). docs/fitting-rooms.md.

A session opens with the first garment brought into a room with no open session and closes when
the last garment brought in has left (or at a help cancel with nothing inside). The same tag
brought in twice in one visit is one row (tried once), its `left_at` cleared again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from controller.catalog.items import CatalogItem
from controller.state.database import in_chunks
from controller.state.units import run_read, run_unit
from firmware_protocol.models import DeviceKind, ModelId

FAMILY_LIMIT = 60  # variants of one style read for an answer (a style has a few dozen at most)


@dataclass(frozen=True, slots=True)
class Variants:
    """What a room's answer needs: the item, the other variants of its style, a few items of its
    collection (other styles)."""

    item: CatalogItem
    family: tuple[CatalogItem, ...]  # the item's style, itself included, by SKU
    collection: tuple[CatalogItem, ...]


async def item_with_variants(
    conn: aiosqlite.Connection, gtin13: str, *, suggestions: int = 2
) -> Variants | None:
    """The item carrying the GTIN-13 with its variants, in one hop (None: no such item)."""
    return await run_read(conn, _with_variants, gtin13, suggestions)


def _items(rows: Sequence[tuple[str]]) -> tuple[CatalogItem, ...]:
    return tuple(CatalogItem.from_stored(row[0]) for row in rows)


def _with_variants(db: sqlite3.Connection, gtin13: str, suggestions: int) -> Variants | None:
    row = db.execute(
        "SELECT body FROM items WHERE deleted = 0 AND json_extract(body, '$.gtin') = ?"
        " ORDER BY sku LIMIT 1",
        (gtin13,),
    ).fetchone()
    if row is None:
        return None
    item = CatalogItem.from_stored(row[0])
    return variants_in(db, item, suggestions)


def variants_in(db: sqlite3.Connection, item: CatalogItem, suggestions: int) -> Variants:
    if item.family is None:
        return Variants(item, (item,), ())
    family = _items(
        db.execute(
            "SELECT body FROM items WHERE deleted = 0"
            " AND json_extract(body, '$.family.style') = ? ORDER BY sku LIMIT ?",
            (item.family.style, FAMILY_LIMIT),
        ).fetchall()
    )
    collection: tuple[CatalogItem, ...] = ()
    if item.family.collection and suggestions > 0:
        # One item per other style of the collection (the partial index keeps this short).
        collection = _items(
            db.execute(
                "SELECT body FROM items WHERE deleted = 0"
                " AND json_extract(body, '$.family.collection') = ?"
                " AND json_extract(body, '$.family.style') != ?"
                " GROUP BY json_extract(body, '$.family.style') ORDER BY min(sku) LIMIT ?",
                (item.family.collection, item.family.style, suggestions),
            ).fetchall()
        )
    return Variants(item, family, collection)


async def family_of(
    conn: aiosqlite.Connection, item: CatalogItem, suggestions: int = 2
) -> Variants:
    """The variants of an item already read (the shopper page)."""
    return await run_read(conn, variants_in, item, suggestions)


# ---- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Brought:
    code: str
    gtin: str | None
    sku: str | None


def _open_session(db: sqlite3.Connection, device_id: str, at: str) -> int:
    row = db.execute(
        "SELECT id FROM room_sessions WHERE device_id = ? AND closed_at IS NULL", (device_id,)
    ).fetchone()
    if row is not None:
        return int(row[0])
    cursor = db.execute(
        "INSERT INTO room_sessions (device_id, opened_at) VALUES (?, ?)", (device_id, at)
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def item_brought_in(
    conn: aiosqlite.Connection, device_id: str, brought: Brought, at: datetime
) -> int:
    """The session the garment joins (opened if none is)."""
    return await run_unit(conn, _brought_in, device_id, brought, at.isoformat())


def _brought_in(db: sqlite3.Connection, device_id: str, brought: Brought, at: str) -> int:
    session = _open_session(db, device_id, at)
    db.execute(
        "INSERT INTO room_items (session_id, code, gtin, sku, brought_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (session_id, code) DO UPDATE SET left_at = NULL",
        (session, brought.code, brought.gtin, brought.sku, at),
    )
    return session


async def item_taken_out(
    conn: aiosqlite.Connection, device_id: str, code: str, at: datetime
) -> int | None:
    """The garment left; the session closes when nothing is left inside. Its session's id, None
    when no open session had it (an ITEM_OUT with no ITEM_IN: ignored)."""
    return await run_unit(conn, _taken_out, device_id, code, at.isoformat())


def _taken_out(db: sqlite3.Connection, device_id: str, code: str, at: str) -> int | None:
    row = db.execute(
        "SELECT id FROM room_sessions WHERE device_id = ? AND closed_at IS NULL", (device_id,)
    ).fetchone()
    if row is None:
        return None
    session = int(row[0])
    changed = db.execute(
        "UPDATE room_items SET left_at = ? WHERE session_id = ? AND code = ? AND left_at IS NULL",
        (at, session, code),
    ).rowcount
    if not changed:
        return None
    inside = db.execute(
        "SELECT count(*) FROM room_items WHERE session_id = ? AND left_at IS NULL", (session,)
    ).fetchone()[0]
    if inside == 0:
        db.execute("UPDATE room_sessions SET closed_at = ? WHERE id = ?", (at, session))
    return session


def count_help_in(db: sqlite3.Connection, device_id: str, at: datetime) -> None:
    """A help request in the room's visit (one is opened for a request with nothing inside)."""
    session = _open_session(db, device_id, at.isoformat())
    db.execute(
        "UPDATE room_sessions SET help_requests = help_requests + 1 WHERE id = ?", (session,)
    )


def close_if_empty_in(db: sqlite3.Connection, device_id: str, at: datetime) -> None:
    """A help cancel: a visit with nothing inside (only a help press) ends."""
    db.execute(
        "UPDATE room_sessions SET closed_at = ? WHERE device_id = ? AND closed_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM room_items"
        " WHERE session_id = room_sessions.id AND left_at IS NULL)",
        (at.isoformat(), device_id),
    )


# ---- analytics ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomStats:
    sessions: int
    closed: int
    items_tried: int
    help_requests: int
    most_tried: tuple[tuple[str, int], ...]  # (sku, times tried), most first
    unknown_tags: int
    # (sku, times tried, units sold) of items tried at least LEAST_BOUGHT_MIN_TRIED times, the
    # fewest sold per try first: what shoppers try on and leave (sold: `stock_sold`)
    least_bought: tuple[tuple[str, int, int], ...] = ()


LEAST_BOUGHT_MIN_TRIED = 3  # fewer tries say nothing about an item


async def room_stats(conn: aiosqlite.Connection, since: datetime, top: int = 10) -> RoomStats:
    return await run_read(conn, _stats, since.isoformat(), top)


def _stats(db: sqlite3.Connection, since: str, top: int) -> RoomStats:
    sessions, closed, helps = db.execute(
        "SELECT count(*), count(closed_at), coalesce(sum(help_requests), 0) FROM room_sessions"
        " WHERE opened_at >= ?",
        (since,),
    ).fetchone()
    tried, unknown = db.execute(
        "SELECT count(*), count(*) - count(sku) FROM room_items WHERE brought_at >= ?", (since,)
    ).fetchone()
    most = db.execute(
        "SELECT sku, count(*) AS n FROM room_items WHERE sku IS NOT NULL AND brought_at >= ?"
        " GROUP BY sku ORDER BY n DESC, sku LIMIT ?",
        (since, top),
    ).fetchall()
    hour = datetime.fromisoformat(since).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    least = db.execute(
        "SELECT r.sku, count(*) AS n, coalesce((SELECT sum(s.units) FROM stock_sold s"
        " WHERE s.sku = r.sku AND s.at >= ?), 0) AS sold"
        " FROM room_items r WHERE r.sku IS NOT NULL AND r.brought_at >= ?"
        " GROUP BY r.sku HAVING n >= ? ORDER BY CAST(sold AS REAL) / n, n DESC, r.sku LIMIT ?",
        (hour.isoformat(), since, LEAST_BOUGHT_MIN_TRIED, top),
    ).fetchall()
    return RoomStats(
        sessions,
        closed,
        tried,
        helps,
        tuple((r[0], r[1]) for r in most),
        unknown,
        tuple((r[0], r[1], r[2]) for r in least),
    )


# ---- what is in a room now (the console's kiosk page and room list) ----------------------------

# The device models of fitting rooms, by number (a room is a device of one of these).
ROOM_MODELS = tuple(m.value for m in ModelId if m.kind is DeviceKind.FITTING_ROOM)


@dataclass(frozen=True, slots=True)
class Garment:
    """A garment inside a room: its tag, and what it named when brought in (none: unknown)."""

    code: str
    gtin: str | None
    sku: str | None
    brought_at: datetime


@dataclass(frozen=True, slots=True)
class Visit:
    """A room's open session and the garments inside (left_at NULL), first brought first."""

    session_id: int
    device_id: str
    opened_at: datetime
    help_requests: int
    inside: tuple[Garment, ...]


async def current_visit(conn: aiosqlite.Connection, device_id: str) -> Visit | None:
    """The room's open visit; None when none is open. A visit opened by a help press alone has
    nothing inside."""
    return (await run_read(conn, _visits, (device_id,))).get(device_id)


async def current_visits(conn: aiosqlite.Connection, device_ids: Sequence[str]) -> dict[str, Visit]:
    """`current_visit` of several rooms in one hop, by device id (rooms with none left out)."""
    return await run_read(conn, _visits, tuple(device_ids))


def _visits(db: sqlite3.Connection, device_ids: tuple[str, ...]) -> dict[str, Visit]:
    found: dict[str, Visit] = {}
    for part, marks in in_chunks(device_ids):
        sessions = db.execute(
            "SELECT id, device_id, opened_at, help_requests FROM room_sessions"  # noqa: S608
            f" WHERE closed_at IS NULL AND device_id IN ({marks})",
            part,
        ).fetchall()
        for session, device_id, opened_at, helps in sessions:
            inside = db.execute(
                "SELECT code, gtin, sku, brought_at FROM room_items"
                " WHERE session_id = ? AND left_at IS NULL ORDER BY brought_at, code",
                (session,),
            ).fetchall()
            found[device_id] = Visit(
                session,
                device_id,
                datetime.fromisoformat(opened_at),
                helps,
                tuple(Garment(c, g, s, datetime.fromisoformat(at)) for c, g, s, at in inside),
            )
    return found


async def room_ids(conn: aiosqlite.Connection) -> list[str]:
    """The registered fitting rooms (devices of a fitting-room model), by id."""
    return await run_read(conn, _room_ids)


def _room_ids(db: sqlite3.Connection) -> list[str]:
    marks = ", ".join("?" * len(ROOM_MODELS))
    rows = db.execute(
        f"SELECT device_id FROM devices WHERE model IN ({marks}) ORDER BY device_id",  # noqa: S608
        ROOM_MODELS,
    ).fetchall()
    return [row[0] for row in rows]
