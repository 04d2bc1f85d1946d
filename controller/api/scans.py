"""Shoppers' QR scans: `/q/{store}/{sku}` records the scan and answers the shoppers' page of the
item (controller/shoppers/, docs/shopper-page.md), or, with `OMNISHELF_SHOPPER_PAGE=false`,
redirects to the item's reviews.

No authentication: the QR code on the shelf is public. An unknown store or SKU is 404 (the page:
a short "item not found" page in the store's language). The reviews link comes from the
configured pattern and must pass `checked_redirect` (HTTPS, an allowlisted host): the page then
leaves it out, the redirect answers 404, never a redirect elsewhere: the controller is not an
open redirect. The scan is recorded once the item is known, even if the redirect is then
refused: the shopper's interest in the item is a fact either way. A scan is a row with the item,
the hour and the aisle of its labels when they hang in one, nothing about the shopper
(state/scans_repo.py). Scans are rate limited per address and for the store (429,
controller/api/gate.py).

`?from=SKU` is the shoppers' page's own link to another size or colour: recorded as a look from
that item, not as a scan. A `from` naming no other item of the store is ignored (a scan).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.api.errors import ERROR_RESPONSES
from controller.operations import aisle_of
from controller.pipeline.render_stage import CONTENT_POISON
from controller.runtime import Controller
from controller.scans import RedirectRefused, checked_redirect, reviews_url
from controller.settings import Settings
from controller.shoppers.html import HEADERS, not_found_html, product_html
from controller.shoppers.page import label_locations, page_of, read_facts
from controller.state.catalog_repo import get_item
from controller.state.scans_repo import record_scan

log = logging.getLogger(__name__)

router = APIRouter(tags=["shoppers"])
ERROR_JSON = {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}


@router.get(
    "/q/{store}/{sku}",
    response_class=HTMLResponse,
    summary="A shopper scanned a label's QR code: the item's page (or its reviews)",
    responses={
        200: {"description": "the shoppers' page of the item", "content": {"text/html": {}}},
        302: {"description": "to the item's reviews (OMNISHELF_SHOPPER_PAGE=false)"},
        404: {
            "description": "unknown store or item (the page: a short page saying so), or, with"
            " the redirect, no allowed reviews page",
            "content": {"text/html": {}, "application/json": ERROR_JSON},
        },
        # Declared with its content: the route's HTML would otherwise be assumed.
        429: {
            "description": ERROR_RESPONSES[429]["description"],
            "content": {"application/json": ERROR_JSON},
        },
    },
)
async def scan(
    store: str,
    sku: str,
    controller: ControllerDep,
    from_sku: Annotated[
        str | None,
        Query(
            alias="from",
            min_length=1,
            max_length=64,
            description="the item whose shoppers' page linked here (a look, not a scan)",
        ),
    ] = None,
) -> Response:
    if not controller.settings.shopper_page:
        return await _redirect(controller, store, sku, from_sku)
    return await _page(controller, store, sku, from_sku)


async def _record(
    controller: Controller, sku: str, locations: tuple[str, ...], from_sku: str | None
) -> None:
    now = controller.clock()
    if from_sku is not None and from_sku != sku and await get_item(controller.conn, from_sku):
        await record_scan(controller.conn, sku, now, from_sku=from_sku)
    else:
        await record_scan(controller.conn, sku, now, aisle=aisle_of(locations))


def _reviews_link(settings: Settings, store: str, sku: str) -> str:
    return checked_redirect(
        reviews_url(settings.review_url_pattern, store=store, sku=sku), settings.redirect_hosts
    )


async def _page(controller: Controller, store: str, sku: str, from_sku: str | None) -> Response:
    settings = controller.settings
    now = controller.clock()
    facts = await read_facts(controller.conn, sku, now) if store == settings.store_id else None
    if facts is None:
        return _html(not_found_html(settings.locale), status.HTTP_404_NOT_FOUND)
    await _record(controller, sku, facts.locations, from_sku)
    try:
        link: str | None = _reviews_link(settings, store, sku)
    except RedirectRefused as exc:
        log.debug("QR scan of %s: no reviews link: %s", sku, exc)
        link = None
    try:
        page = page_of(facts, controller.render_stage.context, now, link)
    except CONTENT_POISON:
        # What cannot be shown on a label (render_stage.py quarantines it) is not shown here.
        log.exception("item %s cannot be shown on the shoppers' page", sku)
        return _html(not_found_html(settings.locale), status.HTTP_404_NOT_FOUND)
    return _html(product_html(page), status.HTTP_200_OK)


def _html(body: str, status_code: int) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=HEADERS)


async def _redirect(
    controller: Controller, store: str, sku: str, from_sku: str | None
) -> RedirectResponse:
    """The scan as before the page: recorded, then a 302 to the reviews (or 404)."""
    settings = controller.settings
    if store != settings.store_id or await get_item(controller.conn, sku) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such item in this store")
    await _record(controller, sku, await label_locations(controller.conn, sku), from_sku)
    try:
        target = _reviews_link(settings, store, sku)
    except RedirectRefused as exc:
        log.warning("QR scan of %s: %s", sku, exc)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="no reviews page for this item"
        ) from exc
    return RedirectResponse(target, status_code=status.HTTP_302_FOUND)
