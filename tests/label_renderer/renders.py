"""What the renderer tests share: the model x template x locale matrix, cached renders, and a
"kitchen sink" template that uses every element type without depending on the shipped designs.

Renders are cached per process because the decoder, golden and layout tests draw the same
135 combinations; drawing them once keeps the folder well inside its time budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from hashlib import sha256
from io import BytesIO
from typing import Any

from PIL import Image

from firmware_protocol.models import LABEL_MODELS, DeviceModel, model_by_name
from label_renderer import (
    LabelContent,
    LabelImage,
    Template,
    TemplateError,
    packaged_template,
    parse_template,
    render_label,
    template_for,
)
from label_renderer.samples import sample_content

LOCALES = ("tr-TR", "az-AZ", "en-US")
# Each default template and the sample kind whose price kind selects it.
TEMPLATE_SAMPLES = {"standard": "normal", "promotion": "promotion", "clearance": "clearance"}
# Panels large enough that the selling price is read back by OCR (2.9" and up).
OCR_PANELS = ("epd290", "epd420", "epd750")


@dataclass(frozen=True)
class Combo:
    """One cell of the matrix: a label model, a default template and a locale."""

    model: DeviceModel
    template: str
    locale: str

    @property
    def id(self) -> str:
        return f"{self.model.name}-{self.template}-{self.locale}"

    @property
    def panel(self) -> str:
        return self.model.name.split("-", 1)[0]

    @property
    def content(self) -> LabelContent:
        return sample_content(self.locale, TEMPLATE_SAMPLES[self.template])


COMBOS = tuple(
    Combo(m, template, locale)
    for m in LABEL_MODELS
    for template in TEMPLATE_SAMPLES
    for locale in LOCALES
)
# One model per panel size, rotating the palettes so each one is covered too: the layout of a
# template is the same on the BW, BWR and BWY variants of a panel.
ONE_PER_PANEL = tuple(m for index, m in enumerate(LABEL_MODELS) if index % 3 == (index // 3) % 3)


def page_count(combo: Combo) -> int:
    """The template's pages; 1 when it is missing or broken (the test then reports why)."""
    try:
        return len(packaged_template(combo.model.name, combo.template).pages)
    except TemplateError:
        return 1


@cache
def _render_pages(model_name: str, template: str, locale: str) -> tuple[LabelImage, ...]:
    combo = Combo(model_by_name(model_name), template, locale)
    content = combo.content
    chosen = template_for(combo.model, content)
    assert chosen.name == template, f"{content.kind} chose {chosen.name!r}, not {template!r}"
    return tuple(
        render_label(content, chosen, combo.model, page) for page in range(1, len(chosen.pages) + 1)
    )


def render_pages(combo: Combo) -> tuple[LabelImage, ...]:
    """Every page of the combo's default template for its sample content (cached)."""
    return _render_pages(combo.model.name, combo.template, combo.locale)


def gradient_png(width: int = 64, height: int = 48) -> bytes:
    """A photo stand-in: a horizontal grey ramp from white to black with a red diagonal band."""
    photo = Image.linear_gradient("L").rotate(90).resize((width, height)).convert("RGB")
    for x in range(min(width, height)):
        photo.putpixel((x, x), (220, 30, 30))
    out = BytesIO()
    photo.save(out, format="PNG")
    return out.getvalue()


def kitchen_sink_json(width: int = 296, height: int = 128) -> dict[str, Any]:
    """A two-page 2.9" template using every element type (page 1 codes, page 2 the rest)."""
    # fmt: off
    return {
        "name": "kitchen-sink",
        "panel": "epd290",
        "width": width,
        "height": height,
        "pages": [
            {
                "name": "codes",
                "elements": [
                    {"type": "rect", "id": "frame", "x": 0, "y": 0, "w": 296, "h": 128,
                     "outline": "black"},
                    {"type": "text", "id": "name", "field": "name", "x": 4, "y": 2, "w": 196,
                     "h": 30, "font": "bold", "size": 14, "min_size": 9, "max_lines": 2,
                     "valign": "top"},
                    {"type": "price", "id": "price", "x": 4, "y": 32, "w": 120, "h": 40,
                     "font": "bold", "size": 40, "decimals_size": 18, "colour": "accent"},
                    {"type": "price", "id": "prior", "field": "prior_price", "x": 128, "y": 40,
                     "w": 72, "h": 20, "size": 16, "strike": True},
                    {"type": "prior_price_note", "id": "note", "x": 4, "y": 74, "w": 196,
                     "h": 22, "size": 9, "min_size": 7, "max_lines": 2},
                    {"type": "unit_price", "id": "unit", "x": 4, "y": 96, "w": 120, "h": 12,
                     "size": 9, "min_size": 7},
                    {"type": "qr", "id": "qr", "x": 208, "y": 0, "w": 88, "h": 88},
                    {"type": "barcode", "id": "barcode", "x": 128, "y": 98, "w": 113,
                     "h": 28, "digits_size": 9},
                    {"type": "line", "id": "rule", "x": 200, "y": 90, "w": 96, "h": 1},
                ],
            },
            {
                "name": "details",
                "elements": [
                    {"type": "image", "id": "photo", "x": 0, "y": 0, "w": 96, "h": 96,
                     "when": ["image"]},
                    {"type": "text", "id": "brand", "field": "brand", "x": 100, "y": 0,
                     "w": 190, "h": 16, "size": 12, "min_size": 8, "colour": "accent"},
                    {"type": "text", "id": "origin", "field": "origin", "x": 100, "y": 16,
                     "w": 190, "h": 14, "size": 10, "min_size": 8},
                    {"type": "rating", "id": "rating", "x": 100, "y": 32, "w": 150, "h": 12},
                    {"type": "stock_badge", "id": "stock", "x": 100, "y": 48, "w": 140,
                     "h": 18, "size": 11, "min_size": 8},
                    {"type": "promo_badge", "id": "badge", "x": 100, "y": 70, "w": 80, "h": 26,
                     "font": "bold", "size": 18, "min_size": 10, "radius": 6},
                    {"type": "icon", "id": "leaf", "name": "leaf", "x": 190, "y": 70, "w": 24,
                     "h": 24, "colour": "accent"},
                    {"type": "icon", "id": "cart", "name": "cart", "x": 218, "y": 70, "w": 24,
                     "h": 24},
                    {"type": "text", "id": "fixed", "text": "İĞŞÇÖÜ ığşçöü Əə ₺₼€$£", "x": 0,
                     "y": 100, "w": 296, "h": 26, "size": 16, "min_size": 8},
                ],
            },
        ],
    }
    # fmt: on


@cache
def kitchen_sink() -> Template:
    return parse_template(json.dumps(kitchen_sink_json()), source="kitchen-sink")


def fingerprint(model_name: str) -> dict[str, list[str]]:
    """SHA-256 of pixels and PNG, planes and content hash of kitchen-sink renders on a model.

    Run in this process and in a fresh one (tests/label_renderer/test_render.py) to show that
    the output depends on nothing but the inputs.
    """
    m = model_by_name(model_name)
    prints: dict[str, list[str]] = {}
    for locale in LOCALES:
        for kind in ("promotion", "clearance", "long"):
            content = replace(sample_content(locale, kind), image=gradient_png())
            for page in (1, 2):
                image = render_label(content, kitchen_sink(), m, page)
                prints[f"{locale}-{kind}-p{page}"] = [
                    sha256(image.pixels()).hexdigest(),
                    sha256(image.planes()).hexdigest(),
                    image.content_hash.hex(),
                    sha256(image.png()).hexdigest(),
                ]
    return prints
