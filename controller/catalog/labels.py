"""A catalog item at a moment in time -> the content of its label (`LabelContent`).

This is where the catalog meets the renderer: which promotion is in force now, the Omnibus prior
price from the price history, the unit price from the net quantity, the stock badge from the
stock figures, and the QR URL from the store's pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

from babel.dates import format_skeleton

from controller.catalog.items import CatalogItem, Stock
from controller.catalog.pricing import (
    AppliedPrice,
    history_intervals,
    omnibus_prior_price,
    unit_price,
)
from label_renderer.content import (
    LabelContent,
    Money,
    PriceKind,
    Rating,
    StockBadge,
    UnitPrice,
)
from label_renderer.locales import babel_locale

DEFAULT_QR_PATTERN = "/q/{store}/{sku}"


@dataclass(frozen=True, slots=True)
class StoreContext:
    """What a label needs to know about its store."""

    store_id: str
    locale: str = "tr-TR"
    qr_pattern: str = DEFAULT_QR_PATTERN  # "{store}" and "{sku}" are URL-quoted on the way in
    base_url: str = ""  # prefixed to a pattern that starts with "/"


def qr_url(context: StoreContext, sku: str) -> str:
    path = context.qr_pattern.format(
        store=quote(context.store_id, safe=""), sku=quote(sku, safe="")
    )
    return context.base_url.rstrip("/") + path if path.startswith("/") else path


def stock_badge(stock: Stock | None, shelf: str | None = None) -> StockBadge | None:
    """The badge from the catalog's stock figures, or from the shelf's count where a smart shelf
    counts the item (`shelf`: "ok", "low" or "out", state/stock_repo.py): what the shelf holds
    is what the shopper sees. An empty shelf still points to online or pick-up stock."""
    if shelf == "out" or (shelf is None and stock is not None and stock.quantity == 0):
        if stock is not None and stock.online_available:
            return StockBadge.ONLINE
        if stock is not None and stock.pickup_available:
            return StockBadge.PICKUP
        return StockBadge.OUT
    if shelf is not None:
        return StockBadge.LOW if shelf == "low" else None
    if stock is None or stock.quantity is None:
        return None
    if stock.quantity <= stock.low_threshold:
        return StockBadge.LOW
    return None


def last_day(ends_at: datetime, locale: str) -> str:
    """The promotion's last day, "30.11" / "11/30" (CLDR's MMdd skeleton).

    `ends_at` is exclusive: a promotion that ends at midnight ran through the day before.
    """
    moment = ends_at
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        moment -= timedelta(days=1)
    return _month_day(moment, locale)


@lru_cache(maxsize=1024)
def _month_day(moment: datetime, locale: str) -> str:
    """Babel matches the skeleton and parses its pattern on every call (~50 us, a twentieth of
    a reprice's controller time per promoted label); a store's promotions share a few ends."""
    return str(format_skeleton("MMdd", moment, locale=babel_locale(locale)))


def label_content(
    item: CatalogItem,
    context: StoreContext,
    at: datetime,
    history: Sequence[AppliedPrice] | None = None,
    shelf: str | None = None,
) -> LabelContent:
    """What `item`'s labels show at `at`; `history` defaults to the item's own price_history;
    `shelf` is the item's shelf stock state where a smart shelf counts it (`stock_badge`)."""
    locale = item.locale or context.locale
    promo = item.promotion_at(at)
    price = promo.price if promo else item.price
    prior = None
    kind = PriceKind.NORMAL
    if promo is not None:
        if history is None:
            history = history_intervals(
                (p.price, p.valid_from, p.valid_to) for p in item.price_history
            )
        prior = omnibus_prior_price(history, promo.starts_at, item.price)
        # A price that is not below the 30-day lowest is no reduction and may not be announced
        # as one (Omnibus Art. 6a): the label then shows it as a plain price.
        kind = PriceKind(promo.kind) if prior > price else PriceKind.NORMAL
    per_unit = unit_price(price, item.sold_by, item.net_quantity)
    return LabelContent(
        sku=item.sku,
        name=item.name,
        locale=locale,
        price=Money(price, item.currency),
        kind=kind,
        brand=item.brand,
        variant=item.variant,
        prior_price=Money(prior, item.currency) if kind is not PriceKind.NORMAL and prior else None,
        promo_text=promo.text if promo else None,
        promo_ends=last_day(promo.ends_at, locale) if promo and promo.ends_at else None,
        unit_price=UnitPrice(Money(per_unit[0], item.currency), per_unit[1]) if per_unit else None,
        qr_url=qr_url(context, item.sku),
        gtin=item.gtin,
        rating=Rating(item.reviews.rating, item.reviews.count) if item.reviews else None,
        stock=stock_badge(item.stock, shelf),
        origin=item.origin,
    )
