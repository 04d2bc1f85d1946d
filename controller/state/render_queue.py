"""The labels whose image must be rendered again: durable, so a crash loses no change.

A catalog change, a link, a relabel or a promotion boundary enqueues the labels it affects in the
same transaction that records the change itself. The pipeline takes the most urgent rows, renders,
plans the pushes and only then removes the rows it rendered; a row enqueued again meanwhile (a
newer change of the same item) has a higher generation and stays. A controller killed at any
point therefore restarts with every change still to render or already planned, never lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from controller.state.database import in_chunks, transaction
from controller.state.labels_repo import Priority

_ENQUEUE = (
    "INSERT INTO render_queue (device_id, priority, force, reason, enqueued_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
    " priority = MIN(render_queue.priority, excluded.priority),"
    " force = MAX(render_queue.force, excluded.force), reason = excluded.reason,"
    " enqueued_at = excluded.enqueued_at, generation = render_queue.generation + 1"
)


@dataclass(frozen=True, slots=True)
class QueuedRender:
    device_id: str
    priority: Priority
    force: bool
    reason: str
    generation: int


async def enqueue_labels(
    conn: aiosqlite.Connection,
    device_ids: Iterable[str],
    *,
    priority: Priority,
    reason: str,
    at: datetime,
    force: bool = False,
) -> int:
    """Queue labels for rendering; the most urgent priority and any force are kept."""
    rows = [(d, int(priority), int(force), reason, at.isoformat()) for d in device_ids]
    async with transaction(conn):
        await conn.executemany(_ENQUEUE, rows)
    return len(rows)


def queue_renders(
    db: sqlite3.Connection,
    device_ids: Iterable[str],
    *,
    priority: Priority,
    reason: str,
    at: datetime,
) -> int:
    """`enqueue_labels` inside a unit of work (state/units.py)."""
    rows = [(d, int(priority), 0, reason, at.isoformat()) for d in device_ids]
    db.executemany(_ENQUEUE, rows)
    return len(rows)


async def enqueue_items(
    conn: aiosqlite.Connection,
    skus: Iterable[str],
    *,
    priority: Priority,
    reason: str,
    at: datetime,
) -> int:
    """Queue every adopted label bound to these items."""
    wanted = list(dict.fromkeys(skus))
    devices: list[str] = []
    for part, marks in in_chunks(wanted):
        async with conn.execute(
            "SELECT b.device_id FROM bindings b JOIN devices d USING (device_id)"  # noqa: S608
            f" WHERE d.adopted = 1 AND b.sku IN ({marks})",
            part,
        ) as cursor:
            devices += [row[0] for row in await cursor.fetchall()]
    return await enqueue_labels(conn, devices, priority=priority, reason=reason, at=at)


async def take(conn: aiosqlite.Connection, limit: int) -> list[QueuedRender]:
    """The most urgent queued labels (they stay queued until `done`)."""
    async with conn.execute(
        "SELECT device_id, priority, force, reason, generation FROM render_queue"
        " ORDER BY priority, enqueued_at LIMIT ?",
        (limit,),
    ) as cursor:
        rows = await cursor.fetchall()
    return [QueuedRender(r[0], Priority(r[1]), bool(r[2]), r[3], r[4]) for r in rows]


async def done(conn: aiosqlite.Connection, rendered: Iterable[QueuedRender]) -> None:
    """Remove rows that were rendered, unless they were enqueued again meanwhile."""
    async with transaction(conn):
        await conn.executemany(
            "DELETE FROM render_queue WHERE device_id = ? AND generation = ?",
            [(r.device_id, r.generation) for r in rendered],
        )


async def queued(conn: aiosqlite.Connection) -> int:
    async with conn.execute("SELECT COUNT(*) FROM render_queue") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0
