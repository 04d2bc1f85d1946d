"""Catalog items: staff edits (one item, a delete, a batch in HQ's format) and look-ups.

Edits go through `Controller.apply`, the same path as HQ's MQTT feed: durable when the response
is sent, audited with the token's name as actor, the affected labels queued for rendering. A
batch keeps its valid changes even when others are invalid; each invalid one is answered with
its index and the reason (catalog/feed.py's parser, shared with the MQTT feed).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import ControllerDep, Staff, Viewer
from controller.api.item_lookup import search_items
from controller.catalog.feed import MAX_BATCH, Delete, Upsert, parse_batch
from controller.catalog.items import CatalogItem
from controller.state.catalog_repo import Stored, get_item
from controller.state.labels_repo import Priority

router = APIRouter(prefix="/items", tags=["items"])


class ChangeOutcome(BaseModel):
    sku: str
    outcome: Stored


class BatchBody(BaseModel):
    """HQ's batch format (docs/catalog.md); each change is checked on its own."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str | None = None
    changes: Annotated[list[Any], Field(max_length=MAX_BATCH)]


class BatchEntry(BaseModel):
    index: int
    sku: str | None = None
    outcome: Stored | Literal["rejected"]
    reason: str | None = None


class BatchOutcome(BaseModel):
    batch_id: str | None
    stored: int
    rejected: int
    results: list[BatchEntry]


def _sku_mismatch(path_sku: str, body_sku: str) -> HTTPException:
    # Shaped like FastAPI's own validation errors, so clients read one format.
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {
                "type": "value_error",
                "loc": ["body", "sku"],
                "msg": f"the body's sku {body_sku!r} differs from the path's {path_sku!r}",
                "input": body_sku,
            }
        ],
    )


@router.put("/{sku}", summary="Create or replace an item (staff)")
async def put_item(
    sku: str, item: CatalogItem, controller: ControllerDep, token: Staff
) -> ChangeOutcome:
    if item.sku != sku:
        raise _sku_mismatch(sku, item.sku)
    # A staff edit is as urgent as any staff action: it overtakes bulk reprices.
    [result] = await controller.apply([Upsert(item)], actor=token.name, priority=Priority.STAFF)
    return ChangeOutcome(sku=result.sku, outcome=result.outcome)


@router.delete("/{sku}", summary="Delete an item (staff)")
async def delete_item(
    sku: str,
    controller: ControllerDep,
    token: Staff,
    version: Annotated[int | None, Query(ge=0, description="HQ's version; newer ones win")] = None,
) -> ChangeOutcome:
    if await get_item(controller.conn, sku) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no item {sku!r} in the catalog")
    [result] = await controller.apply(
        [Delete(sku, version)], actor=token.name, priority=Priority.STAFF
    )
    return ChangeOutcome(sku=result.sku, outcome=result.outcome)


@router.post("/batch", summary="Apply a batch of changes in HQ's format (staff)")
async def post_batch(body: BatchBody, controller: ControllerDep, token: Staff) -> BatchOutcome:
    parsed = parse_batch(body.model_dump())
    rejected = {r.index: r for r in parsed.rejected if r.index is not None}
    if len(rejected) != len(parsed.rejected):  # a rejection of the batch as a whole
        reasons = "; ".join(r.reason for r in parsed.rejected if r.index is None)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=reasons)
    # The parser keeps the valid changes in their order: they fill the indices not rejected.
    valid_indices = [i for i in range(len(body.changes)) if i not in rejected]
    stored = (
        await controller.apply(list(parsed.changes), actor=token.name) if parsed.changes else []
    )
    entries = [
        BatchEntry(index=index, sku=result.sku, outcome=result.outcome)
        for index, result in zip(valid_indices, stored, strict=True)
    ]
    for index, rejection in rejected.items():
        original = rejection.original
        sku = _sku_of(original)
        entries.append(
            BatchEntry(index=index, sku=sku, outcome="rejected", reason=rejection.reason)
        )
    entries.sort(key=lambda entry: entry.index)
    return BatchOutcome(
        batch_id=body.batch_id, stored=len(stored), rejected=len(rejected), results=entries
    )


def _sku_of(change: Any) -> str | None:
    """The SKU an invalid change meant, when it says so (for the staff reading the answer)."""
    if not isinstance(change, dict):
        return None
    item = change.get("item")
    sku = item.get("sku") if isinstance(item, dict) else change.get("sku")
    return sku if isinstance(sku, str) else None


@router.get("/{sku}", summary="One item (viewer)")
async def get_one(sku: str, controller: ControllerDep, _: Viewer) -> CatalogItem:
    item = await get_item(controller.conn, sku)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no item {sku!r} in the catalog")
    return item


@router.get("", summary="Search items by name, SKU or GTIN (viewer)")
async def search(
    controller: ControllerDep,
    _: Viewer,
    q: Annotated[
        str | None, Query(max_length=200, description="part of a name or SKU; a GTIN")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CatalogItem]:
    return await search_items(controller.conn, q, limit=limit, offset=offset)
