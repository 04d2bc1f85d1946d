"""Catalog changes into the durable state, from MQTT, the REST API or a file import.

One call is one transaction: every valid change of a batch is stored, the labels it affects are
queued for rendering, and each change is in the audit log, or (on any error) none of it is. The
caller acknowledges the change (PUBACK, HTTP response) only after this returns, so an
acknowledged change is on disk. Invalid changes never get here: the parsers (catalog/feed.py,
the API's models, the importer) reject them one by one with their reasons.

Should a change get past them and still fail to store (a value SQLite cannot take: the parsers'
bounds are the first line, this is the second), `apply_isolated` finds it by storing halves of
the changes on their own, and quarantines that change alone with its reason: its neighbours are
stored. Only errors a change's values can cause count as such a failure (`POISON`); an unusable
database (disk full, I/O error) is no fault of the change and propagates, so that nothing is
acknowledged and the controller can restart.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from controller.catalog.feed import Delete, Upsert
from controller.catalog.items import CatalogItem
from controller.state.audit_repo import append_audit, append_audits
from controller.state.catalog_repo import Stored, delete_item, store_items
from controller.state.database import transaction
from controller.state.labels_repo import Priority
from controller.state.render_queue import enqueue_items

log = logging.getLogger(__name__)

# Errors a change's own values can cause while it is stored (an integer SQLite cannot hold, a
# text that does not encode, a constraint); anything else is the database's, not the change's.
POISON: tuple[type[Exception], ...] = (
    ValueError,  # includes UnicodeError and pydantic's ValidationError
    ArithmeticError,  # OverflowError, decimal.InvalidOperation
    TypeError,
    LookupError,
    RecursionError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
)


# aiosqlite's ValueErrors for a connection that is closed or never opened: the database's
# state, never the change's (treating them as poison would dead-letter every message).
_CONNECTION_GONE = frozenset({"no active connection", "Connection closed"})


def is_poison(exc: BaseException) -> bool:
    """Whether a change's own values can have caused `exc` while it was stored."""
    if not isinstance(exc, POISON):
        return False
    return not (type(exc) is ValueError and str(exc) in _CONNECTION_GONE)


@dataclass(frozen=True, slots=True)
class ChangeResult:
    sku: str
    outcome: Stored


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A change that could not be stored; its neighbours were."""

    sku: str
    reason: str


def change_sku(change: Upsert | Delete) -> str:
    return change.item.sku if isinstance(change, Upsert) else change.sku


async def apply_isolated(
    store: Callable[[list[Upsert | Delete]], Awaitable[list[ChangeResult]]],
    changes: Sequence[Upsert | Delete],
) -> list[ChangeResult | Quarantined]:
    """`store(changes)`, one result per change in order; if it fails with a POISON error, the
    halves are stored on their own, down to the single change that fails (quarantined)."""
    if not changes:
        return []
    try:
        return list(await store(list(changes)))
    except POISON as exc:
        if not is_poison(exc):
            raise
        if len(changes) == 1:
            reason = f"could not be stored: {type(exc).__name__}: {exc}"[:400]
            log.warning("catalog change of %s quarantined: %s", change_sku(changes[0]), reason)
            return [Quarantined(change_sku(changes[0]), reason)]
    half = len(changes) // 2
    return [
        *await apply_isolated(store, changes[:half]),
        *await apply_isolated(store, changes[half:]),
    ]


def next_boundary(item: CatalogItem, after: datetime) -> datetime | None:
    """The next moment the item's label changes by itself: its promotion starts or ends."""
    promo = item.promotion
    if promo is None:
        return None
    times = [t for t in (promo.starts_at, promo.ends_at) if t is not None and t > after]
    return min(times) if times else None


async def set_next_boundary(conn: aiosqlite.Connection, item: CatalogItem, after: datetime) -> None:
    """Stored in UTC so that the scheduler can compare the ISO strings."""
    boundary = next_boundary(item, after)
    await conn.execute(
        "UPDATE items SET next_change_at = ? WHERE sku = ?",
        (boundary.astimezone(UTC).isoformat() if boundary else None, item.sku),
    )


def changes_priority(changes: Sequence[Upsert | Delete]) -> Priority:
    """A single change goes before a batch's (a price fix overtakes a store-wide reprice)."""
    return Priority.SINGLE if len(changes) == 1 else Priority.BULK


async def apply_changes(
    conn: aiosqlite.Connection,
    changes: Sequence[Upsert | Delete],
    *,
    actor: str,
    at: datetime,
    priority: Priority | None = None,
) -> list[ChangeResult]:
    """Store the changes and queue their labels; durable when this returns.

    Without an explicit priority a single change is SINGLE and a batch is BULK, so that one
    price fix overtakes a store-wide reprice.
    """
    if priority is None:
        priority = changes_priority(changes)
    results: list[ChangeResult] = []
    async with transaction(conn):
        run: list[CatalogItem] = []  # consecutive upserts, stored together
        for change in changes:
            if isinstance(change, Upsert):
                run.append(change.item)
                continue
            results += await _upsert(conn, run, actor, at)
            run = []
            outcome = await delete_item(conn, change.sku, change.version, at)
            if outcome is Stored.ACCEPTED:
                await append_audit(
                    conn,
                    at=at,
                    actor=actor,
                    action="item.delete",
                    target=f"item:{change.sku}",
                    detail={"version": change.version},
                )
            results.append(ChangeResult(change.sku, outcome))
        results += await _upsert(conn, run, actor, at)
        changed = [r.sku for r in results if r.outcome is Stored.ACCEPTED]
        await enqueue_items(conn, changed, priority=priority, reason=f"catalog ({actor})", at=at)
    return results


async def _upsert(
    conn: aiosqlite.Connection, items: list[CatalogItem], actor: str, at: datetime
) -> list[ChangeResult]:
    if not items:
        return []
    outcomes = await store_items(conn, items, at, lambda item: next_boundary(item, at))
    judged = list(zip(items, outcomes, strict=True))
    accepted = [item for item, outcome in judged if outcome is Stored.ACCEPTED]
    await append_audits(
        conn,
        [
            (
                actor,
                "item.upsert",
                f"item:{item.sku}",
                {"version": item.version, "price": str(item.price)},
            )
            for item in accepted
        ],
        at,
    )
    return [ChangeResult(item.sku, outcome) for item, outcome in judged]
