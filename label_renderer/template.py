"""The template schema: a label's layout as data, validated with pydantic.

A template is JSON. It names the panel it is drawn for ("epd290" serves the BW, BWR and BWY
variants of the 2.9" panel) and lists pages; each page is a list of elements drawn in order, each
inside its own box in device pixels. An element may carry conditions (`when`): it is drawn only if
all of them hold for the content, so one template serves items with and without a unit price, a
rating or a prior price.

Colours are roles, not RGB: "accent" is red on BWR, yellow on BWY and black on BW panels;
"accent_text" is the accent where it is legible as text on white (red) and black elsewhere, so a
promotion price is red on BWR and black, not an unreadable yellow, on BWY. Text drawn on a filled
badge takes white or black, whichever contrasts more with the fill.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from label_renderer.errors import TemplateError
from label_renderer.fonts import FontName

Colour = Literal["black", "accent", "accent_text", "white"]
Align = Literal["left", "center", "right"]
VAlign = Literal["top", "middle", "bottom"]

# What `when` may test. "reduced" means a promotion or clearance that has a prior price to show.
Condition = Literal[
    "normal",
    "promotion",
    "clearance",
    "reduced",
    "not_reduced",
    "prior_price",
    "no_prior_price",
    "unit_price",
    "no_unit_price",
    "qr",
    "gtin",
    "rating",
    "stock",
    "brand",
    "variant",
    "origin",
    "image",
    "no_image",
    "promo_text",
    "promo_ends",
    "no_qr",
    "no_gtin",
    "no_rating",
    "no_stock",
    "no_variant",
]

# "origin", "promo_ends" and "reviews" are localized phrases around a content field ("Origin:
# Türkiye", "Ends 11/30"); "reviews" is the call to scan the QR code, drawn only when there is one.
TextField = Literal[
    "name", "brand", "variant", "origin", "promo_text", "promo_ends", "sku", "reviews"
]
PriceField = Literal["price", "prior_price"]
IconName = Literal["star", "truck", "store", "leaf", "tag", "cart"]


class _Element(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)
    when: tuple[Condition, ...] = ()
    colour: Colour = "black"


class _Sized(_Element):
    font: FontName = "regular"
    size: int = Field(ge=6, le=300)
    min_size: int | None = Field(default=None, ge=6, le=300)
    align: Align = "left"
    valign: VAlign = "middle"

    @model_validator(mode="after")
    def _min_not_above_size(self) -> _Sized:
        if self.min_size is not None and self.min_size > self.size:
            raise ValueError(f"min_size {self.min_size} is larger than size {self.size}")
        return self


class TextElement(_Sized):
    """Text fitted to its box: shrink to `min_size`, wrap to `max_lines`, then an ellipsis."""

    type: Literal["text"]
    field: TextField | None = None
    text: str | None = None
    max_lines: int = Field(default=1, ge=1, le=10)
    line_spacing: float = Field(default=1.15, ge=0.8, le=2.0)

    @model_validator(mode="after")
    def _one_source(self) -> TextElement:
        if (self.field is None) == (self.text is None):
            raise ValueError("a text element needs exactly one of 'field' and 'text'")
        return self


class PriceElement(_Sized):
    """A price; with `decimals_size` the decimals and the currency are set small and raised."""

    type: Literal["price"]
    field: PriceField = "price"
    decimals_size: int | None = Field(default=None, ge=6, le=300)
    strike: bool = False


class PriorPriceNoteElement(_Sized):
    """The Omnibus line: "Lowest price in last 30 days: …" (Directive 2019/2161, Art. 6a)."""

    type: Literal["prior_price_note"]
    max_lines: int = Field(default=1, ge=1, le=4)


class UnitPriceElement(_Sized):
    """The unit price line (Directive 98/6/EC): "Unit price: 24,90 ₺/kg"."""

    type: Literal["unit_price"]
    label: bool = True  # False: just "24,90 ₺/kg"


class QrElement(_Element):
    """The content's QR URL; the largest whole module size that fits, quiet zone included."""

    type: Literal["qr"]
    border: int = Field(default=2, ge=0, le=4)
    ecc: Literal["L", "M", "Q", "H"] = "M"
    align: Align = "center"


class BarcodeElement(_Element):
    """EAN-13 of the GTIN with its human-readable digits; bars are whole pixels, never scaled."""

    type: Literal["barcode"]
    digits: bool = True
    digits_size: int = Field(default=10, ge=6, le=40)
    align: Align = "center"


class RatingElement(_Element):
    """Five stars filled to the rating, then the review count."""

    type: Literal["rating"]
    count: bool = True
    count_size: int | None = Field(default=None, ge=6, le=80)


class StockBadgeElement(_Sized):
    """Low, out of stock, available online, pick up in store; drawn only when the item has one."""

    type: Literal["stock_badge"]
    style: Literal["filled", "outline", "plain"] = "outline"
    icon: bool = True
    max_lines: int = Field(default=1, ge=1, le=3)  # a framed badge's lines; plain text wraps to 3


class PromoBadgeElement(_Sized):
    """The reduction: "-20%" from the prior price, else the promo text, else "SALE"."""

    type: Literal["promo_badge"]
    style: Literal["filled", "outline", "plain"] = "filled"
    radius: int = Field(default=0, ge=0, le=60)


class IconElement(_Element):
    type: Literal["icon"]
    name: IconName


class ImageElement(_Element):
    """The item's photo, scaled to fit and dithered to the panel's palette."""

    type: Literal["image"]
    align: Align = "center"


class RectElement(_Element):
    type: Literal["rect"]
    fill: Colour | None = None
    outline: Colour | None = None
    width: int = Field(default=1, ge=1, le=20)
    radius: int = Field(default=0, ge=0, le=60)


class LineElement(_Element):
    """A line from (x, y) to (x + w - 1, y + h - 1): set h=1 for horizontal, w=1 for vertical."""

    type: Literal["line"]
    width: int = Field(default=1, ge=1, le=20)


Element = Annotated[
    TextElement
    | PriceElement
    | PriorPriceNoteElement
    | UnitPriceElement
    | QrElement
    | BarcodeElement
    | RatingElement
    | StockBadgeElement
    | PromoBadgeElement
    | IconElement
    | ImageElement
    | RectElement
    | LineElement,
    Field(discriminator="type"),
]


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    elements: tuple[Element, ...]


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    panel: str  # "epd290": the width x height of every model of that panel
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    description: str = ""
    pages: tuple[Page, ...] = Field(min_length=1, max_length=7)

    @model_validator(mode="after")
    def _elements_inside_panel(self) -> Template:
        for number, page in enumerate(self.pages, start=1):
            for index, element in enumerate(page.elements):
                if element.x + element.w > self.width or element.y + element.h > self.height:
                    where = element.id or f"#{index} ({element.type})"
                    raise ValueError(
                        f"page {number} element {where} at {element.x},{element.y} size "
                        f"{element.w}x{element.h} leaves the {self.width}x{self.height} panel"
                    )
        return self

    def page(self, number: int) -> Page:
        if not 1 <= number <= len(self.pages):
            raise TemplateError(
                f"template {self.name!r} has pages 1..{len(self.pages)}, not {number}",
                template=self.name,
            )
        return self.pages[number - 1]


def parse_template(text: str | bytes, *, source: str = "<template>") -> Template:
    """A template from JSON; every problem comes back as one TemplateError naming the field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{source}: not valid JSON: {exc}") from exc
    try:
        return Template.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise TemplateError(f"{source}: {problems}") from exc


def load_template_file(path: Path) -> Template:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror}") from exc
    return parse_template(text, source=str(path))
