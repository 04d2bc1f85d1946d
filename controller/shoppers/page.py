"""What the shoppers' page behind a label's QR code shows (docs/shopper-page.md): the item as its
labels show it, its reviews, where it hangs in the store, and its other sizes and colours with
their stock.

Two steps, so that the page's content is a pure function of what was read:
- `read_facts` reads the item and what its labels' content depends on, as the render stage does
  (pipeline/render_stage.py `jobs`): the prices applied in the store (for a promotion's Omnibus
  prior price) and the shelf's stock state; and the item's variants (state/rooms_repo.py), their
  shelf counts and the locations of the labels linked to the item.
- `page_of` turns them into text: `label_content` decides every figure exactly as for the labels
  (the promotion in force, the prior price, the unit price, the stock badge), the label renderer's
  phrases and Babel format them in the item's locale (the store's unless the item has its own),
  and each variant's availability follows the fitting rooms' rule (the shelf's count where a
  smart shelf counts it, else the catalog's store stock, else online, else sold out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

import aiosqlite
from babel.numbers import format_decimal

from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext, label_content
from controller.catalog.pricing import AppliedPrice
from controller.catalog.variants import availability, family_order, phrases_for, variant_label
from controller.operations import location_parts
from controller.pipeline.render_stage import promotion_history
from controller.shoppers.phrases import PageWords, language_of, words_for
from controller.state.catalog_repo import applied_prices_of, get_item
from controller.state.devices_repo import bindings_for_item, devices_by_id
from controller.state.rooms_repo import Variants, family_of
from controller.state.stock_repo import shelf_summaries
from label_renderer.content import PriceKind
from label_renderer.draw_badges import promo_badge_text
from label_renderer.locales import babel_locale, format_money, message, stock_text, unit_name

MAX_LOCATIONS = 5  # an item hangs in a few places at most; more would be a list nobody reads
STARS = 5
STAR_WIDTH = 24  # of the inline SVG's star, in its own units


@dataclass(frozen=True, slots=True)
class ShopperFacts:
    """What the page of one item is made of, as read at one moment."""

    item: CatalogItem
    history: Sequence[AppliedPrice] | None  # only for a promotion in force (its prior price)
    shelf: str | None  # ok / low / out where a smart shelf counts the item
    variants: Variants
    counted: dict[str, int]  # shelf counts of the item and its variants, where counted
    locations: tuple[str, ...]


async def read_facts(conn: aiosqlite.Connection, sku: str, now: datetime) -> ShopperFacts | None:
    """The facts of `sku`'s page; None when the store has no such (readable) item."""
    item = await get_item(conn, sku)
    if item is None:
        return None
    history = None
    if item.promotion_at(now) is not None:
        history = promotion_history(item, await applied_prices_of(conn, [sku]))
    variants = await family_of(conn, item)
    summaries = await shelf_summaries(conn, [v.sku for v in variants.family])
    return ShopperFacts(
        item,
        history,
        summaries[sku].state if sku in summaries else None,
        variants,
        {one: summary.count for one, summary in summaries.items()},
        await label_locations(conn, sku),
    )


async def label_locations(conn: aiosqlite.Connection, sku: str) -> tuple[str, ...]:
    """Where the item's labels hang, as staff typed it, once per place ("Reyon 3 / Raf 2" and
    "reyon 3/raf 2" are one: operations.location_parts)."""
    bound = [binding.device_id for binding in await bindings_for_item(conn, sku)]
    devices = await devices_by_id(conn, bound) if bound else {}
    places: dict[tuple[str, ...], str] = {}
    for device_id in bound:
        location = devices[device_id].location if device_id in devices else None
        if location and (parts := location_parts(location)):
            places.setdefault(parts, " ".join(location.split()))
    return tuple(places[key] for key in sorted(places))[:MAX_LOCATIONS]


@dataclass(frozen=True, slots=True)
class VariantLine:
    name: str  # "38 Lacivert"
    availability: str  # "mağazada 3", "online", "tükendi"
    state: str  # in / online / out: how the page marks it
    current: bool  # the item whose code was scanned
    href: str | None  # its own page, relative to this one, as a look from it (none: current)


@dataclass(frozen=True, slots=True)
class Stars:
    text: str  # "4,3" in the page's locale
    label: str  # "5 üzerinden 4,3 yıldız"
    filled: Decimal  # width of the filled part, in the SVG's units
    width: int
    step: int


@dataclass(frozen=True, slots=True)
class ShopperPage:
    lang: str  # "tr", "az", "en": the page's language
    words: PageWords
    name: str
    brand: str | None
    variant: str | None
    price: str  # "1.299,90 ₺"
    promoted: bool
    badge: str | None  # "-%20"
    prior_price: str | None  # "Son 30 günün en düşük fiyatı: 14,90 ₺"
    promo_text: str | None
    promo_ends: str | None
    unit_price: str | None
    stock: str | None  # the labels' stock badge, in words
    stock_state: str | None  # low / out / online / pickup
    origin: str | None
    stars: Stars | None
    reviews: str  # "128 değerlendirme" or "no reviews yet"
    reviews_url: str | None  # an allowlisted HTTPS link, else none
    locations: tuple[str, ...]
    variants: tuple[VariantLine, ...]  # empty: the item has no other size or colour
    also: tuple[str, ...]  # other styles of its collection


def _variants(facts: ShopperFacts, locale: str) -> tuple[VariantLine, ...]:
    """The item's style, itself included, its colour first (as a fitting room lists them)."""
    item = facts.item
    if item.family is None or len(facts.variants.family) < 2:
        return ()
    words = phrases_for(locale)
    states = {words.online: "online", words.sold_out: "out"}
    ordered = family_order(item, facts.variants.family)
    lines = []
    for variant in ordered:
        where = availability(variant, facts.counted.get(variant.sku), words)
        current = variant.sku == item.sku
        # A sibling of this page's path (/q/{store}/{sku}): right behind a proxy's prefix too.
        href = f"./{quote(variant.sku, safe='')}?from={quote(item.sku, safe='')}"
        lines.append(
            VariantLine(
                variant_label(variant),
                where,
                states.get(where, "in"),
                current,
                None if current else href,
            )
        )
    return tuple(lines)


def _stars(rating: Decimal, locale: str, words: PageWords) -> Stars:
    text = format_decimal(rating, format="0.0", locale=babel_locale(locale))
    filled = min(rating, Decimal(STARS)) * STAR_WIDTH
    return Stars(text, words.stars.format(rating=text), filled, STARS * STAR_WIDTH, STAR_WIDTH)


def page_of(
    facts: ShopperFacts, context: StoreContext, now: datetime, reviews_url: str | None
) -> ShopperPage:
    """The page's text at `now`; `reviews_url` is the checked link to the item's reviews."""
    item = facts.item
    content = label_content(item, context, now, facts.history, facts.shelf)
    locale = content.locale
    words = words_for(locale)
    promoted = content.kind is not PriceKind.NORMAL
    prior = (
        message(locale, "prior_price", price=format_money(content.prior_price, locale))
        if promoted and content.prior_price
        else None
    )
    unit = content.unit_price
    per_unit = (
        message(
            locale,
            "unit_price",
            price=format_money(unit.price, locale),
            unit=unit_name(locale, unit.per),
        )
        if unit
        else None
    )
    rating = content.rating
    if rating is not None and rating.count > 0:
        count = format_decimal(rating.count, locale=babel_locale(locale))
        reviews = (words.review_one if rating.count == 1 else words.review_many).format(n=count)
    else:
        reviews = words.no_reviews
    badge = promo_badge_text(content) if promoted else None
    return ShopperPage(
        lang=language_of(locale),
        words=words,
        name=content.name,
        brand=content.brand,
        variant=content.variant,
        price=format_money(content.price, locale),
        promoted=promoted,
        badge=badge,
        prior_price=prior,
        # A promotion that is no reduction is shown as a plain price, as on the label.
        promo_text=content.promo_text if promoted and content.promo_text != badge else None,
        promo_ends=(
            message(locale, "promo_ends", date=content.promo_ends)
            if promoted and content.promo_ends
            else None
        ),
        unit_price=per_unit,
        stock=stock_text(locale, content.stock) if content.stock else None,
        stock_state=content.stock.value if content.stock else None,
        origin=message(locale, "origin", origin=content.origin) if content.origin else None,
        stars=(
            _stars(rating.stars, locale, words) if rating is not None and rating.count else None
        ),
        reviews=reviews,
        reviews_url=reviews_url,
        locations=facts.locations,
        variants=_variants(facts, locale),
        also=tuple(other.name for other in facts.variants.collection),
    )
