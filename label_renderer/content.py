"""What a label shows: the plain content model the renderer draws.

The renderer knows nothing about the catalog, the database or the controller. Whoever calls it
(the controller, the `omnishelf render` command, a test) first turns a catalog item into a
`LabelContent`, with every legal figure already decided: the prior price of a promotion (the
Omnibus lowest price of the last 30 days) and the unit price are computed by the caller from the
price history and the net quantity, and the renderer only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class PriceKind(StrEnum):
    """Why the item has its current price; it picks the default template."""

    NORMAL = "normal"
    PROMOTION = "promotion"
    CLEARANCE = "clearance"


class Unit(StrEnum):
    """The units a unit price may be given per (EU Directive 98/6/EC, Art. 2(b))."""

    KG = "kg"
    LITRE = "l"
    METRE = "m"
    PIECE = "piece"


class StockBadge(StrEnum):
    LOW = "low"
    OUT = "out"
    ONLINE = "online"
    PICKUP = "pickup"


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str  # ISO 4217, e.g. "TRY", "AZN", "USD"


@dataclass(frozen=True, slots=True)
class UnitPrice:
    """The price of one `per` unit, e.g. 24.90 TRY per kg."""

    price: Money
    per: Unit


@dataclass(frozen=True, slots=True)
class Rating:
    stars: Decimal  # 0..5
    count: int


@dataclass(frozen=True, slots=True)
class LabelContent:
    """Everything one label may show; optional fields left None are simply not drawn."""

    sku: str
    name: str
    locale: str  # BCP 47, e.g. "tr-TR"
    price: Money
    kind: PriceKind = PriceKind.NORMAL
    brand: str | None = None
    variant: str | None = None  # "500 g", "Size M, blue"
    # The price the promotion is announced against (Omnibus Art. 6a: the lowest price of the
    # 30 days before the reduction). A promotion without it shows no reduction claim.
    prior_price: Money | None = None
    promo_text: str | None = None  # "2 al 1 öde"; the percentage is derived, never typed in
    promo_ends: str | None = None  # already localized by the caller ("30.11")
    unit_price: UnitPrice | None = None
    qr_url: str | None = None
    gtin: str | None = None  # 13 digits (GTIN-12 is zero-padded by the caller)
    rating: Rating | None = None
    stock: StockBadge | None = None
    origin: str | None = None
    image: bytes | None = None  # an encoded PNG or JPEG, dithered to the panel's palette

    @property
    def discount_percent(self) -> int | None:
        """The reduction in whole percent, computed from the prior price (CJEU C-330/23)."""
        if self.prior_price is None or self.kind is PriceKind.NORMAL:
            return None
        prior = self.prior_price.amount
        if prior <= 0 or self.price.amount >= prior:
            return None
        ratio = (prior - self.price.amount) / prior * 100
        # Round down: a label may understate a reduction, never overstate it.
        return int(ratio)
