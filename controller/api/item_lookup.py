"""Finding catalog items the way staff name them: by SKU, by the GTIN scanned from the
product, or by a part of the name. Read-only queries over the items table (whose `body` is the
CatalogItem as JSON)."""

from __future__ import annotations

import aiosqlite

from controller.catalog.items import CatalogItem
from controller.state.catalog_repo import get_item
from label_renderer.errors import ContentError
from label_renderer.gtin import gtin13


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def normalised_gtin(code: str) -> str | None:
    """The GTIN-13 a scanned code stands for, or None if it is not a valid GTIN."""
    try:
        return gtin13(code)
    except ContentError:
        return None


async def item_by_gtin(conn: aiosqlite.Connection, gtin: str) -> CatalogItem | None:
    async with conn.execute(
        "SELECT body FROM items WHERE deleted = 0 AND json_extract(body, '$.gtin') = ?"
        " ORDER BY sku LIMIT 1",
        (gtin,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else CatalogItem.from_stored(row["body"])


async def resolve_item(conn: aiosqlite.Connection, code: str) -> CatalogItem | None:
    """The item a staff member means by `code`: its SKU, else the GTIN it carries."""
    found = await get_item(conn, code)
    if found is not None:
        return found
    gtin = normalised_gtin(code)
    return None if gtin is None else await item_by_gtin(conn, gtin)


async def search_items(
    conn: aiosqlite.Connection, query: str | None, *, limit: int, offset: int
) -> list[CatalogItem]:
    """Items whose SKU or name contains `query` (ASCII letters case-insensitively, SQLite's LIKE)
    or whose GTIN is it; every item without a query; ordered by SKU."""
    sql = "SELECT body FROM items WHERE deleted = 0"
    params: list[str | int] = []
    if query:
        sql += (
            " AND (sku LIKE ? ESCAPE '\\' OR json_extract(body, '$.name') LIKE ? ESCAPE '\\'"
            " OR json_extract(body, '$.gtin') = ?)"
        )
        params += [_like(query), _like(query), normalised_gtin(query) or query]
    sql += " ORDER BY sku LIMIT ? OFFSET ?"
    async with conn.execute(sql, (*params, limit, offset)) as cursor:
        rows = await cursor.fetchall()
    return [CatalogItem.from_stored(row["body"]) for row in rows]
