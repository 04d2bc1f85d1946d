"""Shoppers' QR scans: `/q/{store}/{sku}` records the scan and redirects to the item's reviews.

No authentication: the QR code on the shelf is public. Unknown store or SKU is 404. The target
comes from the configured pattern and must pass `checked_redirect` (HTTPS, an allowlisted host);
a refused target is 404, never a redirect elsewhere: the controller is not an open redirect. The
scan is recorded once the item is known, even if the redirect is then refused: the shopper's
interest in the item is a fact either way. Scans are rate limited per address and for the store
(429, controller/api/gate.py): each one is a row.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.responses import RedirectResponse

from controller.api.deps import ControllerDep
from controller.api.errors import ERROR_RESPONSES
from controller.scans import RedirectRefused, checked_redirect, reviews_url
from controller.state.catalog_repo import get_item
from controller.state.database import transaction

log = logging.getLogger(__name__)

router = APIRouter(tags=["shoppers"])

MAX_USER_AGENT = 512


@router.get(
    "/q/{store}/{sku}",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    summary="A shopper scanned a label's QR code: to the item's reviews",
    responses={
        404: {"description": "unknown store or item, or no allowed reviews page"},
        429: ERROR_RESPONSES[429],
    },
)
async def scan(
    store: str,
    sku: str,
    controller: ControllerDep,
    user_agent: Annotated[str | None, Header()] = None,
) -> RedirectResponse:
    settings = controller.settings
    if store != settings.store_id or await get_item(controller.conn, sku) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such item in this store")
    now = controller.clock()
    async with transaction(controller.conn):
        await controller.conn.execute(
            "INSERT INTO scans (at, sku, user_agent) VALUES (?, ?, ?)",
            (now.isoformat(), sku, user_agent[:MAX_USER_AGENT] if user_agent else None),
        )
    try:
        target = checked_redirect(
            reviews_url(settings.review_url_pattern, store=store, sku=sku), settings.redirect_hosts
        )
    except RedirectRefused as exc:
        log.warning("QR scan of %s: %s", sku, exc)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="no reviews page for this item"
        ) from exc
    return RedirectResponse(target, status_code=status.HTTP_302_FOUND)
