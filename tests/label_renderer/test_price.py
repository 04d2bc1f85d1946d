"""Prices on the panel: never cut, never wrapped, and every pixel inside the element's box."""

from __future__ import annotations

import json
from typing import Any

import pytest

from firmware_protocol.models import model_by_name
from label_renderer import LabelContent, RenderError, parse_template, render_label
from label_renderer.samples import sample_content

# (size, decimals_size, w, h): a 2.9" selling price, the same filling its box's height exactly,
# a plain (one-size) price, and a 7.5" headline price.
BOXES = [(46, 21, 176, 40), (44, 20, 200, 33), (15, None, 112, 20), (120, 50, 500, 110)]
KINDS = ("clearance", "promotion", "minimal")


def _template(**price: Any) -> str:
    element = {"type": "price", "id": "price", "x": 20, "y": 20, "font": "bold", **price}
    return json.dumps(
        {"name": "price-only", "panel": "epd750", "width": 800, "height": 480,
         "pages": [{"name": "p", "elements": [element]}]}
    )  # fmt: skip


def _ink_inside(content: LabelContent, **price: Any) -> None:
    image = render_label(content, parse_template(_template(**price)), model_by_name("epd750-bw"))
    ink = image.image.getbbox()
    assert ink is not None
    left, top, right, bottom = ink
    box = (20, 20, 20 + price["w"], 20 + price["h"])
    assert left >= box[0], f"ink {ink} starts left of the box {box}"
    assert top >= box[1], f"ink {ink} starts above the box {box}"
    assert right <= box[2], f"ink {ink} ends right of the box {box}"
    assert bottom <= box[3], f"ink {ink} ends below the box {box}"


@pytest.mark.parametrize(("size", "decimals", "w", "h"), BOXES)
@pytest.mark.parametrize("locale", ["tr-TR", "az-AZ", "en-US"])
def test_selling_price_ink_stays_in_its_box(
    locale: str, size: int, decimals: int | None, w: int, h: int
) -> None:
    """Every pixel of the selling price ("$" prefix, raised decimals, sign) is inside its box."""
    for kind in KINDS:
        content = sample_content(locale, kind)
        _ink_inside(content, size=size, decimals_size=decimals, w=w, h=h)


@pytest.mark.parametrize("align", ["left", "center", "right"])
@pytest.mark.parametrize("locale", ["tr-TR", "en-US"])
def test_struck_prior_price_ink_stays_in_its_box(locale: str, align: str) -> None:
    """The strike line through a prior price does not reach past the element's box."""
    content = sample_content(locale, "clearance")
    for w in (44, 72, 112):  # tight: "1.899,00 ₺" needs 41 px at the 8 px floor
        _ink_inside(content, field="prior_price", size=15, w=w, h=20, strike=True, align=align)


def test_price_that_cannot_fit_is_an_error_not_a_cut() -> None:
    """A price too wide even at the 8 px floor raises RenderError naming the price."""
    content = sample_content("tr-TR", "clearance")
    template = parse_template(_template(size=40, w=20, h=30))
    with pytest.raises(RenderError, match=r"1\.299,90") as caught:
        render_label(content, template, model_by_name("epd750-bw"))
    assert caught.value.element == "price"
    assert caught.value.template == "price-only"
