"""Catalog items: staff edits (one item, a delete, a batch in HQ's format) and look-ups.

Edits go through `Controller.apply`, the same path as HQ's MQTT feed: durable when the response
is sent, audited with the token's name as actor, the affected labels queued for rendering. A
batch keeps its valid changes even when others are invalid; each invalid one is answered with
its index and the reason (catalog/feed.py's parser, shared with the MQTT feed).

PUT and the batch read their body themselves, through the feed's bounds (catalog/payload.py):
its size and nesting are checked before it is parsed, and a 422 names each field and reason
without echoing the input (escaped, so an answer always encodes). A change that still fails to
store is quarantined alone (`ingest.apply_isolated`): 422 for a PUT, `rejected` in a batch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controller.api.deps import ControllerDep, Staff, Viewer
from controller.api.item_lookup import search_items
from controller.catalog.feed import MAX_BATCH, MAX_BYTES, Delete, Upsert, parse_batch
from controller.catalog.items import MAX_VERSION, CatalogItem
from controller.catalog.payload import PayloadError, load_json, safe_text
from controller.pipeline.ingest import Quarantined, apply_isolated, changes_priority
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


MAX_PROBLEMS = 50  # problems listed in one 422
M = TypeVar("M", bound=BaseModel)


def _problem(loc: tuple[Any, ...], msg: str, kind: str) -> dict[str, Any]:
    return {
        "loc": ["body", *(p if isinstance(p, int) else safe_text(str(p), 80) for p in loc)],
        "msg": safe_text(msg, 300),
        "type": kind,
    }


def _invalid(problems: list[dict[str, Any]]) -> RequestValidationError:
    return RequestValidationError(problems[:MAX_PROBLEMS])


async def _json_body(request: Request, max_bytes: int) -> Any:
    """The request's JSON body, refused (422) when too large or too deep before parsing."""
    try:
        return load_json(await request.body(), max_bytes=max_bytes, what="body")
    except PayloadError as exc:
        raise _invalid([_problem((), exc.reason, "payload")]) from exc


def _validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(
            [_problem(tuple(e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        ) from exc


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.put(
    "/{sku}",
    summary="Create or replace an item (staff)",
    openapi_extra=_body_doc({"$ref": "#/components/schemas/CatalogItem"}),
)
async def put_item(
    sku: str, request: Request, controller: ControllerDep, token: Staff
) -> ChangeOutcome:
    item = _validated(CatalogItem, await _json_body(request, MAX_BYTES["item"]))
    if item.sku != sku:
        raise _sku_mismatch(sku, item.sku)
    # A staff edit is as urgent as any staff action: it overtakes bulk reprices.
    [result] = await apply_isolated(
        lambda changes: controller.apply(changes, actor=token.name, priority=Priority.STAFF),
        [Upsert(item)],
    )
    if isinstance(result, Quarantined):
        raise _invalid([_problem((), result.reason, "quarantined")])
    return ChangeOutcome(sku=result.sku, outcome=result.outcome)


@router.delete("/{sku}", summary="Delete an item (staff)")
async def delete_item(
    sku: str,
    controller: ControllerDep,
    token: Staff,
    version: Annotated[
        int | None, Query(ge=0, le=MAX_VERSION, description="HQ's version; newer ones win")
    ] = None,
) -> ChangeOutcome:
    if await get_item(controller.conn, sku) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no item {sku!r} in the catalog")
    [result] = await controller.apply(
        [Delete(sku, version)], actor=token.name, priority=Priority.STAFF
    )
    return ChangeOutcome(sku=result.sku, outcome=result.outcome)


@router.post(
    "/batch",
    summary="Apply a batch of changes in HQ's format (staff)",
    openapi_extra=_body_doc(BatchBody.model_json_schema()),
)
async def post_batch(request: Request, controller: ControllerDep, token: Staff) -> BatchOutcome:
    body = _validated(BatchBody, await _json_body(request, MAX_BYTES["batch"]))
    parsed = parse_batch(body.model_dump())
    rejected = {r.index: r for r in parsed.rejected if r.index is not None}
    if len(rejected) != len(parsed.rejected):  # a rejection of the batch as a whole
        reasons = "; ".join(r.reason for r in parsed.rejected if r.index is None)
        raise _invalid([_problem(("changes",), reasons, "value_error")])
    priority = changes_priority(parsed.changes)  # kept when a failing change is isolated
    outcomes = await apply_isolated(
        lambda changes: controller.apply(changes, actor=token.name, priority=priority),
        parsed.changes,
    )
    entries: list[BatchEntry] = []
    for position, outcome in zip(parsed.positions, outcomes, strict=True):
        index = position or 0  # a batch's changes all have their position
        if isinstance(outcome, Quarantined):
            rejected_entry = BatchEntry(
                index=index, sku=outcome.sku, outcome="rejected", reason=outcome.reason
            )
            entries.append(rejected_entry)
        else:
            entries.append(BatchEntry(index=index, sku=outcome.sku, outcome=outcome.outcome))
    for index, rejection in rejected.items():
        sku = _sku_of(rejection.original)
        entries.append(
            BatchEntry(index=index, sku=sku, outcome="rejected", reason=rejection.reason)
        )
    entries.sort(key=lambda entry: entry.index)
    failed = sum(1 for entry in entries if entry.outcome == "rejected")
    return BatchOutcome(
        batch_id=safe_text(body.batch_id, 128) if body.batch_id is not None else None,
        stored=len(entries) - failed,
        rejected=failed,
        results=entries,
    )


def _sku_of(change: Any) -> str | None:
    """The SKU an invalid change meant, when it says so (for the staff reading the answer)."""
    if not isinstance(change, dict):
        return None
    item = change.get("item")
    sku = item.get("sku") if isinstance(item, dict) else change.get("sku")
    return safe_text(sku, 80) if isinstance(sku, str) else None


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
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[CatalogItem]:
    return await search_items(controller.conn, q, limit=limit, offset=offset)
