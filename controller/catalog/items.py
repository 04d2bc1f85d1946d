"""The catalog item format: what HQ sends for one SKU (docs/catalog.md; JSON Schema from here).

This is a boundary model (pydantic): it arrives over MQTT, REST and file import, and every
problem is reported with the field that caused it. Inside the controller an item is turned into a
`label_renderer.LabelContent` by `controller.catalog.labels`.

Money is a decimal string or number with at most two decimals; times are ISO 8601 with an offset
(a naive time is refused: a promotion starting "at 08:00" must say in which zone).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from label_renderer.errors import ContentError
from label_renderer.gtin import gtin13

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _two_decimals(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("has more than two decimals")
    return value


Amount = Annotated[Decimal, Field(gt=0, le=Decimal("99999999.99")), AfterValidator(_two_decimals)]


def _known_currency(code: str) -> str:
    if code not in list_currencies():
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


def _valid_gtin(value: str) -> str:
    try:
        return gtin13(value)
    except ContentError as exc:
        raise ValueError(str(exc)) from exc


class QuantityUnit(StrEnum):
    G = "g"
    KG = "kg"
    ML = "ml"
    L = "l"
    CM = "cm"
    M = "m"
    PIECE = "piece"


class SoldBy(StrEnum):
    """What `price` is the price of: one item, or one kg / l / m of a loose product."""

    ITEM = "item"
    KG = "kg"
    L = "l"
    M = "m"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class NetQuantity(_Strict):
    value: Annotated[Decimal, Field(gt=0, le=Decimal(1_000_000))]
    unit: QuantityUnit


class Promotion(_Strict):
    """A reduced price for a period; outside [starts_at, ends_at) the regular price applies."""

    kind: Literal["promotion", "clearance"] = "promotion"
    price: Amount
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    text: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Promotion:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PricePoint(_Strict):
    """One price that applied from `valid_from` until `valid_to` (open: until the next one)."""

    price: Amount
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PricePoint:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class Stock(_Strict):
    quantity: Annotated[int, Field(ge=0)] | None = None
    low_threshold: Annotated[int, Field(ge=0)] = 5
    online_available: bool = False
    pickup_available: bool = False


class Reviews(_Strict):
    rating: Annotated[Decimal, Field(ge=0, le=5)]
    count: Annotated[int, Field(ge=0)]


class CatalogItem(_Strict):
    """One SKU as HQ describes it; see docs/catalog.md for every field."""

    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    version: Annotated[int, Field(ge=0)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    brand: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    variant: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    locale: Literal["tr-TR", "az-AZ", "en-US"] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]
    price: Amount
    sold_by: SoldBy = SoldBy.ITEM
    net_quantity: NetQuantity | None = None
    promotion: Promotion | None = None
    price_history: tuple[PricePoint, ...] = ()
    gtin: Annotated[str, AfterValidator(_valid_gtin)] | None = None
    stock: Stock | None = None
    reviews: Reviews | None = None
    origin: Annotated[str, Field(min_length=1, max_length=60)] | None = None

    @field_validator("name", "brand", "variant", "origin")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 0x20 or ch == "\u2028" for ch in value):
            raise ValueError("must not contain control characters or line breaks")
        return value

    @field_validator("promotion")
    @classmethod
    def _reduced(cls, promo: Promotion | None, info: ValidationInfo) -> Promotion | None:
        regular = info.data.get("price")
        if promo is not None and regular is not None and promo.price >= regular:
            raise ValueError(f"price {promo.price} must be below the regular price {regular}")
        return promo

    def promotion_at(self, moment: datetime) -> Promotion | None:
        """The promotion in force at `moment`, if any (scheduled ones switch by time alone)."""
        promo = self.promotion
        if promo is None or moment < promo.starts_at:
            return None
        if promo.ends_at is not None and moment >= promo.ends_at:
            return None
        return promo
