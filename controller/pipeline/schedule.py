"""Scheduled promotions switch on and off at their times, without another catalog message.

Every stored item carries the next moment its label changes by itself (its promotion's start or
end, in UTC). When that moment has come, the item's labels are queued for rendering like any
change (the render stage computes the content at the current time, so the promotion is in or out
by then) and the next moment is computed. The moments are durable: a controller that was down
at a boundary catches up at its start.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiosqlite

from controller.catalog.items import CatalogItem
from controller.pipeline.ingest import set_next_boundary
from controller.state.database import transaction
from controller.state.labels_repo import Priority
from controller.state.render_queue import enqueue_items


async def switch_due_promotions(conn: aiosqlite.Connection, now: datetime) -> list[str]:
    """Queue the labels of items whose promotion starts or ends by `now`; returns their SKUs."""
    moment = now.astimezone(UTC).isoformat()
    due = "SELECT body FROM items WHERE deleted = 0 AND next_change_at <= ?"
    async with conn.execute(due, (moment,)) as cursor:
        if await cursor.fetchone() is None:
            return []  # the usual case: no transaction, other writers do not wait for this
    async with transaction(conn):
        async with conn.execute(due, (moment,)) as cursor:
            rows = await cursor.fetchall()
        items = [CatalogItem.from_stored(row[0]) for row in rows]
        for item in items:
            await set_next_boundary(conn, item, now)
        await enqueue_items(
            conn, [i.sku for i in items], priority=Priority.SINGLE, reason="promotion", at=now
        )
    return [i.sku for i in items]


async def next_switch(conn: aiosqlite.Connection) -> datetime | None:
    async with conn.execute(
        "SELECT MIN(next_change_at) FROM items WHERE deleted = 0 AND next_change_at IS NOT NULL"
    ) as cursor:
        row = await cursor.fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None
