"""Items and the prices the store applied: the catalog half of the durable state.

Versions only move forward: HQ's `version` orders the changes of one SKU, so a change that
arrives late (a retried batch, a replayed MQTT message) never overwrites a newer one. An item
without a version is taken as the newest (file imports and staff edits have no HQ version), and
it keeps the stored version: a staff edit of version 5 is stored as version 5, so a replayed
version 3 is still stale, and HQ's next version 6 still wins. (Bumping the version instead would
make HQ's own version 6 look like a duplicate of the edit and be dropped.)

Stored items are read back with `CatalogItem.from_stored`, without the entry bounds: an item
stored by an older controller stays readable. One whose body cannot be read at all is left out
of `current_items` and named by `readable_items`, so that one bad row cannot stop a render round.

Applied prices are intervals [valid_from, valid_to): recording a price closes the open interval
and opens a new one only when the price really changed, so the history is exactly what the
shelf showed, the input the Omnibus prior price needs.

When an accepted version's store stock (`stock.quantity`) is lower than the stored one, the
difference is added to `stock_sold` for the hour: the controller has no till, and HQ's store stock
going down is how it learns what sold (transfers and shrink count too; a restock is not a
negative sale). The fitting rooms' "tried most, bought least" reads it (state/rooms_repo.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import aiosqlite
from pydantic import ValidationError

from controller.catalog.items import CatalogItem
from controller.catalog.pricing import AppliedPrice
from controller.state.database import in_chunks, transaction

_QUANTITY = "json_extract(body, '$.stock.quantity') AS quantity"  # the store stock HQ reported

log = logging.getLogger(__name__)


class Stored(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # the same version again: nothing to do, acknowledge it
    STALE = "stale"  # an older version than the one stored: ignored


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps in the state database must be timezone-aware")
    return moment.isoformat()


async def store_item(conn: aiosqlite.Connection, item: CatalogItem, at: datetime) -> Stored:
    """Upsert `item` unless a newer version is stored; committed when this returns."""
    return (await store_items(conn, [item], at))[0]


async def store_items(
    conn: aiosqlite.Connection,
    items: Sequence[CatalogItem],
    at: datetime,
    next_change: Callable[[CatalogItem], datetime | None] = lambda _: None,
) -> list[Stored]:
    """Upsert each item unless a newer version is stored, in order (a SKU twice in `items`:
    the second is judged against the first), in a few statements; `next_change` gives the
    moment the item's label changes by itself (a promotion boundary), stored for the
    scheduler in UTC. Committed when this returns."""
    async with transaction(conn):
        stored: dict[str, tuple[int | None, bool]] = {}
        quantity: dict[str, int | None] = {}  # the store stock each item had, for `sold`
        skus = list(dict.fromkeys(item.sku for item in items))
        for part, marks in in_chunks(skus):
            async with conn.execute(
                f"SELECT sku, version, deleted, {_QUANTITY} FROM items WHERE sku IN ({marks})",  # noqa: S608
                part,
            ) as cursor:
                for row in await cursor.fetchall():
                    stored[row["sku"]] = (row["version"], bool(row["deleted"]))
                    quantity[row["sku"]] = row["quantity"] if not row["deleted"] else None
        outcomes: list[Stored] = []
        rows: dict[str, tuple[object, ...]] = {}
        sold: dict[str, int] = {}
        for item in items:
            version, deleted = stored.get(item.sku, (None, False))
            if version is not None and item.version is not None:
                if item.version < version:
                    outcomes.append(Stored.STALE)
                    continue
                if item.version == version and not deleted:
                    outcomes.append(Stored.DUPLICATE)
                    continue
            kept = item
            if item.version is None and version is not None:
                kept = item.model_copy(update={"version": version})  # never lower (docstring)
            stored[item.sku] = (kept.version, False)
            was, now = quantity.get(item.sku), kept.stock.quantity if kept.stock else None
            if isinstance(was, int) and now is not None and now < was:
                sold[item.sku] = sold.get(item.sku, 0) + was - now
            quantity[item.sku] = now
            boundary = next_change(kept)
            rows[item.sku] = (
                item.sku,
                kept.version,
                kept.model_dump_json(),
                _iso(at),
                boundary.astimezone(UTC).isoformat() if boundary else None,
            )
            outcomes.append(Stored.ACCEPTED)
        await conn.executemany(
            "INSERT INTO items (sku, version, body, deleted, received_at, next_change_at)"
            " VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (sku) DO UPDATE SET"
            " version = excluded.version, body = excluded.body, deleted = 0,"
            " received_at = excluded.received_at, next_change_at = excluded.next_change_at",
            list(rows.values()),
        )
        hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()
        await conn.executemany(
            "INSERT INTO stock_sold (sku, at, units) VALUES (?, ?, ?)"
            " ON CONFLICT (sku, at) DO UPDATE SET units = units + excluded.units",
            [(sku, hour, units) for sku, units in sold.items()],
        )
    return outcomes


async def delete_item(
    conn: aiosqlite.Connection, sku: str, version: int | None, at: datetime
) -> Stored:
    """Mark an item deleted (its history stays, for audits) unless a newer version is stored."""
    async with transaction(conn):
        async with conn.execute("SELECT version FROM items WHERE sku = ?", (sku,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return Stored.DUPLICATE
        if version is not None and row["version"] is not None and version < row["version"]:
            return Stored.STALE
        await conn.execute(
            "UPDATE items SET deleted = 1, version = COALESCE(?, version), received_at = ?"
            " WHERE sku = ?",
            (version, _iso(at), sku),
        )
    return Stored.ACCEPTED


def _read(sku: str, body: str) -> CatalogItem | str:
    """The stored item, or why its stored body cannot be read."""
    try:
        return CatalogItem.from_stored(body)
    except ValidationError as exc:
        reason = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(item)'}: {e['msg']}" for e in exc.errors()
        )
        log.warning("stored item %s cannot be read: %s", sku, reason)
        return f"the stored item cannot be read ({reason})"


async def get_item(conn: aiosqlite.Connection, sku: str) -> CatalogItem | None:
    """The stored item; None if there is none, or if its stored body cannot be read (logged)."""
    async with conn.execute(
        "SELECT body FROM items WHERE sku = ? AND deleted = 0", (sku,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    found = _read(sku, row["body"])
    return found if isinstance(found, CatalogItem) else None


async def readable_items(
    conn: aiosqlite.Connection, skus: Iterable[str]
) -> tuple[dict[str, CatalogItem], dict[str, str]]:
    """The stored, not deleted items among `skus` (a few queries whatever their number), and
    why each one whose stored body cannot be read is left out."""
    wanted = list(skus)
    found: dict[str, CatalogItem] = {}
    unreadable: dict[str, str] = {}
    for part, marks in in_chunks(wanted):
        async with conn.execute(
            f"SELECT sku, body FROM items WHERE deleted = 0 AND sku IN ({marks})",  # noqa: S608
            part,
        ) as cursor:
            for row in await cursor.fetchall():
                item = _read(row[0], row[1])
                if isinstance(item, CatalogItem):
                    found[row[0]] = item
                else:
                    unreadable[row[0]] = item
    return found, unreadable


async def current_items(conn: aiosqlite.Connection, skus: Iterable[str]) -> dict[str, CatalogItem]:
    """The stored, not deleted, readable items among `skus`."""
    return (await readable_items(conn, skus))[0]


async def record_applied_price(
    conn: aiosqlite.Connection, sku: str, price: Decimal, currency: str, at: datetime
) -> bool:
    """The shelf price of `sku` is `price` from `at` on; False if that was already the case."""
    return (await record_applied_prices(conn, [(sku, price, currency)], at))[0]


async def record_applied_prices(
    conn: aiosqlite.Connection, prices: Sequence[tuple[str, Decimal, str]], at: datetime
) -> list[bool]:
    """`record_applied_price` for (sku, price, currency) of distinct SKUs, in a few statements."""
    stamp = _iso(at)
    async with transaction(conn):
        open_rows: dict[str, tuple[Decimal, str, str]] = {}
        for part, marks in in_chunks([sku for sku, _, _ in prices]):
            async with conn.execute(
                "SELECT sku, price, currency, valid_from FROM applied_prices"  # noqa: S608
                f" WHERE valid_to IS NULL AND sku IN ({marks})",
                part,
            ) as cursor:
                for row in await cursor.fetchall():
                    open_rows[row[0]] = (Decimal(row[1]), row[2], row[3])
        changed: list[bool] = []
        closing: list[tuple[str, str, str]] = []
        opening: list[tuple[str, str, str, str]] = []
        for sku, price, currency in prices:
            current = open_rows.get(sku)
            if current is not None and current[0] == price and current[1] == currency:
                changed.append(False)
                continue
            changed.append(True)
            if current is not None:
                closing.append((stamp, sku, current[2]))
            opening.append((sku, str(price), currency, stamp))
        await conn.executemany(
            "UPDATE applied_prices SET valid_to = ? WHERE sku = ? AND valid_from = ?", closing
        )
        await conn.executemany(
            "INSERT INTO applied_prices (sku, price, currency, valid_from) VALUES (?, ?, ?, ?)",
            opening,
        )
    return changed


async def applied_prices(conn: aiosqlite.Connection, sku: str) -> list[AppliedPrice]:
    """Every price `sku` had on the shelf, oldest first."""
    return (await applied_prices_of(conn, [sku])).get(sku, [])


async def applied_prices_of(
    conn: aiosqlite.Connection, skus: Iterable[str]
) -> dict[str, list[AppliedPrice]]:
    """`applied_prices` of many SKUs in a few queries (a render round's promotions: one query
    per item was a database round trip each); SKUs with no history are left out."""
    found: dict[str, list[AppliedPrice]] = {}
    for part, marks in in_chunks(list(dict.fromkeys(skus))):
        async with conn.execute(
            "SELECT sku, price, valid_from, valid_to FROM applied_prices"  # noqa: S608
            f" WHERE sku IN ({marks}) ORDER BY sku, valid_from",
            part,
        ) as cursor:
            rows = await cursor.fetchall()
        for sku, price, valid_from, valid_to in rows:
            found.setdefault(sku, []).append(
                AppliedPrice(
                    Decimal(price),
                    datetime.fromisoformat(valid_from),
                    datetime.fromisoformat(valid_to) if valid_to else None,
                )
            )
    return found
