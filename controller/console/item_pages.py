"""Items: search by name, SKU or GTIN (with no search: the items shoppers scanned most this
week); an item's page (price history chart, its labels, its shoppers' scans); and, in demo mode
only, changing its price as HQ would (the same `Controller.apply` as the catalog feed, audited with
the user's token name)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.api.item_lookup import resolve_item, search_items
from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.console.charts import Step, price_chart
from controller.console.session import StaffUser, User
from controller.console.templating import render
from controller.console.wall import wall_labels
from controller.state.catalog_repo import applied_prices, current_items, get_item
from controller.state.devices_repo import bindings_for_item
from controller.state.scans_repo import (
    AisleCount,
    most_scanned,
    next_looks,
    scans_by_aisle,
    scans_of_item,
)

router = APIRouter()
SEARCH_LIMIT = 100
SCANS_OVER = timedelta(days=7)  # the period the scan counts cover
MOST_SCANNED = 10


@router.get("/items")
async def search(
    request: Request,
    controller: ControllerDep,
    user: User,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    query = q.strip()
    found = await search_items(controller.conn, query, limit=SEARCH_LIMIT, offset=0)
    if query and not found:  # a scanned code that is a SKU or GTIN in another form
        exact = await resolve_item(controller.conn, query)
        found = [exact] if exact is not None else []
    popular: list[tuple[CatalogItem, int]] = []
    aisles: list[AisleCount] = []
    looks: list[tuple[CatalogItem, CatalogItem, int]] = []
    if not query:
        since = controller.clock() - SCANS_OVER
        counts = await most_scanned(controller.conn, since, MOST_SCANNED)
        aisles = await scans_by_aisle(controller.conn, since)
        pairs = await next_looks(controller.conn, since, limit=MOST_SCANNED)
        known = await current_items(
            controller.conn,
            [c.sku for c in counts] + [sku for p in pairs for sku in (p.from_sku, p.sku)],
        )
        popular = [(known[c.sku], c.scans) for c in counts if c.sku in known]
        looks = [
            (known[p.from_sku], known[p.sku], p.looks)
            for p in pairs
            if p.from_sku in known and p.sku in known
        ]
    return render(
        request,
        "items.html",
        user,
        q=query,
        items=found,
        limit=SEARCH_LIMIT,
        popular=popular,
        aisles=aisles,
        looks=looks,
        scan_days=SCANS_OVER.days,
    )


async def _item_page(
    request: Request,
    controller: ControllerDep,
    user: User,
    item: CatalogItem,
    *,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    applied = await applied_prices(controller.conn, item.sku)
    hq_steps = [Step(p.price, p.valid_from, p.valid_to) for p in item.price_history]
    store_steps = [Step(p.price, p.start, p.end) for p in applied]
    now = controller.clock()
    promo = item.promotion
    promo_steps = (
        [Step(promo.price, promo.starts_at, min(promo.ends_at or now, now))]
        if promo is not None and promo.starts_at < now
        else []
    )
    chart = price_chart(
        {
            ("HQ price history", "hq"): hq_steps,
            ("Promotion", "promo"): promo_steps,
            ("Applied in this store", "store"): store_steps,
        },
        now,
    )
    bound = [b.device_id for b in await bindings_for_item(controller.conn, item.sku)]
    labels = await wall_labels(controller.conn, bound[:500]) if bound else []
    scans = await scans_of_item(controller.conn, item.sku, now - SCANS_OVER)
    pairs = await next_looks(controller.conn, now - SCANS_OVER, from_sku=item.sku)
    others = await current_items(controller.conn, [p.sku for p in pairs])
    looks = [(others[p.sku], p.looks) for p in pairs if p.sku in others]
    return render(
        request,
        "item.html",
        user,
        status_code=status_code,
        item=item,
        chart=chart,
        applied=applied,
        labels=labels,
        scans=scans,
        looks=looks,
        scan_days=SCANS_OVER.days,
        error=error,
        done=done,
    )


async def _item_or_404(controller: ControllerDep, sku: str) -> CatalogItem:
    item = await get_item(controller.conn, sku)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no item {sku!r}")
    return item


@router.get("/items/{sku}")
async def item_page(
    request: Request, sku: str, controller: ControllerDep, user: User, done: str | None = None
) -> Response:
    item = await _item_or_404(controller, sku)
    return await _item_page(
        request, controller, user, item, done="Price changed." if done == "price" else None
    )


@router.post("/items/{sku}/price")
async def change_price(
    request: Request,
    sku: str,
    controller: ControllerDep,
    user: StaffUser,
    price: Annotated[str, Form(max_length=20)],
) -> Response:
    """Demo mode: a new price for the item, stored as if HQ had sent it (next version)."""
    if not request.app.state.demo:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="prices come from HQ here")
    item = await _item_or_404(controller, sku)
    try:
        amount = Decimal(price.strip().replace(",", "."))
        version = None if item.version is None else item.version + 1
        changed = CatalogItem.model_validate(
            item.model_dump() | {"price": amount, "version": version}
        )
    except (InvalidOperation, ValidationError) as exc:
        why = (
            "; ".join(str(e["msg"]) for e in exc.errors())
            if isinstance(exc, ValidationError)
            else "not a number"
        )
        return await _item_page(
            request,
            controller,
            user,
            item,
            error=f"Price {price!r} refused: {why}",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    await controller.apply([Upsert(changed)], actor=user.name)
    return RedirectResponse(
        f"/items/{quote(sku, safe='')}?done=price", status_code=status.HTTP_303_SEE_OTHER
    )
