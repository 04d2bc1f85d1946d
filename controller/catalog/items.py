"""The catalog item format: what HQ sends for one SKU (docs/catalog.md; JSON Schema from here).

This is a boundary model (pydantic): it arrives over MQTT, REST and file import, and every
problem is reported with the field that caused it. Inside the controller an item is turned into a
`label_renderer.LabelContent` by `controller.catalog.labels`.

Money is a decimal string or number with at most two decimals; times are ISO 8601 with an offset
(a naive time is refused: a promotion starting "at 08:00" must say in which zone).

Every value is bounded where it enters, so that nothing stored can fail later (docs/catalog.md,
"Bounds"): versions fit SQLite's INTEGER, times lie in [2000, 2100) so that any offset or the
Omnibus 30-day window stays computable, text has no control, line-break or bidi-override
characters (a U+202E in a name would show "09,99" as "99,90"), and a net quantity is at least
0.001 with at most three decimals, so that the unit price is a finite figure.

Items read back from the state database skip these bounds (`from_stored`): an item stored by an
older controller must stay readable, and the render stage quarantines one it cannot show.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from label_renderer.errors import ContentError
from label_renderer.gtin import gtin13

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_VERSION = 2**63 - 1  # SQLite's INTEGER; 0 is allowed (it always was)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
MIN_NET_QUANTITY = Decimal("0.001")
MAX_PRICE_POINTS = 1000
STORED = {"stored": True}  # validation context of items read back from the state database

# C0 and C1 controls, line and paragraph separators, bidi embeddings, overrides and isolates
_FORBIDDEN_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _entering(info: ValidationInfo) -> bool:
    """True unless the item is read back from the state database (see the module docstring)."""
    return not (isinstance(info.context, dict) and info.context.get("stored"))


def _plain_text(value: str, info: ValidationInfo) -> str:
    found = _FORBIDDEN_CHARACTER.search(value) if _entering(info) else None
    if found is not None:
        raise ValueError(
            "must not contain control characters, line breaks or bidi controls"
            f" (U+{ord(found.group()):04X} at position {found.start()})"
        )
    return value


# The same rule as _FORBIDDEN_CHARACTER, for the JSON Schema (an ECMA-262 pattern)
TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$"
PLAIN = AfterValidator(_plain_text)
PLAIN_SCHEMA = Field(json_schema_extra={"pattern": TEXT_PATTERN})


def _in_window(value: datetime, info: ValidationInfo) -> datetime:
    if _entering(info) and not EARLIEST <= value < LATEST:
        raise ValueError("must lie in the years 2000 to 2099")
    return value


Moment = Annotated[
    AwareDatetime,
    AfterValidator(_in_window),
    Field(
        json_schema_extra={
            "formatMinimum": "2000-01-01T00:00:00Z",
            "formatExclusiveMaximum": "2100-01-01T00:00:00Z",
        }
    ),
]


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        # true == 1 is no version; a ValueError (not TypeError) is what pydantic reports
        raise ValueError("must be an integer, not a boolean")  # noqa: TRY004
    return value


Version = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=MAX_VERSION)]


def _at_most(limit: int | Decimal) -> Callable[[Any, ValidationInfo], Any]:
    def check(value: Any, info: ValidationInfo) -> Any:
        if _entering(info) and value > limit:
            raise ValueError(f"must be at most {limit}")
        return value

    return check


def _at_most_decimals(places: int) -> Callable[[Decimal, ValidationInfo], Decimal]:
    def check(value: Decimal, info: ValidationInfo) -> Decimal:
        exponent = value.as_tuple().exponent
        if _entering(info) and isinstance(exponent, int) and exponent < -places:
            raise ValueError(f"has more than {places} decimals")
        return value

    return check


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


def _enough_quantity(value: Decimal, info: ValidationInfo) -> Decimal:
    if _entering(info) and value < MIN_NET_QUANTITY:
        raise ValueError(f"must be at least {MIN_NET_QUANTITY}")
    return value


class NetQuantity(_Strict):
    value: Annotated[
        Decimal,
        Field(gt=0, le=Decimal(1_000_000)),
        AfterValidator(_enough_quantity),
        AfterValidator(_at_most_decimals(3)),
        Field(json_schema_extra={"minimum": float(MIN_NET_QUANTITY), "multipleOf": 0.001}),
    ]
    unit: QuantityUnit


class Promotion(_Strict):
    """A reduced price for a period; outside [starts_at, ends_at) the regular price applies."""

    kind: Literal["promotion", "clearance"] = "promotion"
    price: Amount
    starts_at: Moment
    ends_at: Moment | None = None
    text: Annotated[str, Field(min_length=1, max_length=40), PLAIN, PLAIN_SCHEMA] | None = None
    id: Annotated[str, Field(min_length=1, max_length=64), PLAIN, PLAIN_SCHEMA] | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Promotion:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PricePoint(_Strict):
    """One price that applied from `valid_from` until `valid_to` (open: until the next one)."""

    price: Amount
    valid_from: Moment
    valid_to: Moment | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PricePoint:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


MAX_COUNT = 10**12
Count = Annotated[
    int, Field(ge=0, json_schema_extra={"maximum": MAX_COUNT}), AfterValidator(_at_most(MAX_COUNT))
]


def _at_most_points(points: tuple[PricePoint, ...], info: ValidationInfo) -> tuple[PricePoint, ...]:
    if _entering(info) and len(points) > MAX_PRICE_POINTS:
        raise ValueError(f"{len(points)} price points, at most {MAX_PRICE_POINTS}")
    return points


class Stock(_Strict):
    quantity: Count | None = None
    low_threshold: Count = 5
    online_available: bool = False
    pickup_available: bool = False


class Family(_Strict):
    """The item as one variant of a style: the same garment in other sizes and colours shares its
    `style` (fitting rooms and the shopper page list them; docs/catalog.md)."""

    style: Annotated[str, Field(pattern=SKU_PATTERN)]
    size: Annotated[str, Field(min_length=1, max_length=20), PLAIN, PLAIN_SCHEMA] | None = None
    colour: Annotated[str, Field(min_length=1, max_length=40), PLAIN, PLAIN_SCHEMA] | None = None
    collection: Annotated[str, Field(min_length=1, max_length=80), PLAIN, PLAIN_SCHEMA] | None = (
        None
    )


class Reviews(_Strict):
    rating: Annotated[
        Decimal,
        Field(ge=0, le=5, json_schema_extra={"multipleOf": 0.01}),
        AfterValidator(_at_most_decimals(2)),
    ]
    count: Count


class CatalogItem(_Strict):
    """One SKU as HQ describes it; see docs/catalog.md for every field."""

    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    version: Version | None = None
    name: Annotated[str, Field(min_length=1, max_length=200), PLAIN, PLAIN_SCHEMA]
    brand: Annotated[str, Field(min_length=1, max_length=80), PLAIN, PLAIN_SCHEMA] | None = None
    variant: Annotated[str, Field(min_length=1, max_length=80), PLAIN, PLAIN_SCHEMA] | None = None
    locale: Literal["tr-TR", "az-AZ", "en-US"] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]
    price: Amount
    sold_by: SoldBy = SoldBy.ITEM
    net_quantity: NetQuantity | None = None
    promotion: Promotion | None = None
    price_history: Annotated[
        tuple[PricePoint, ...],
        AfterValidator(_at_most_points),
        Field(json_schema_extra={"maxItems": MAX_PRICE_POINTS}),
    ] = ()
    gtin: Annotated[str, AfterValidator(_valid_gtin)] | None = None
    stock: Stock | None = None
    reviews: Reviews | None = None
    origin: Annotated[str, Field(min_length=1, max_length=60), PLAIN, PLAIN_SCHEMA] | None = None
    family: Family | None = None

    @classmethod
    def from_stored(cls, body: str | bytes) -> CatalogItem:
        """An item as stored in the state database (the entry bounds are not applied again)."""
        return cls.model_validate_json(body, context=STORED)

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
