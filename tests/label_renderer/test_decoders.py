"""Real decoders read every default label the way a shopper or a scanner would.

Over every label model x default template x locale: zbar decodes the QR code and the EAN-13 at
device resolution (one image pixel per panel pixel, no upscaling), and on 2.9" and larger panels
tesseract reads the selling price's digits from the price region.
"""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from PIL import Image

from label_renderer.locales import format_money
from tests.label_renderer.renders import COMBOS, OCR_PANELS, Combo, render_pages
from tests.support.decoders import ocr_digits, price_on_one_line, zbar_decode

OCR_COMBOS = tuple(c for c in COMBOS if c.panel in OCR_PANELS)


def _png(picture: Image.Image) -> bytes:
    out = BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize("combo", COMBOS, ids=[c.id for c in COMBOS])
def test_qr_and_ean13_decode_to_the_content(combo: Combo) -> None:
    """zbar reads, across the pages, the QR as exactly qr_url and the EAN-13 as exactly gtin."""
    content = combo.content
    found: set[tuple[str, str]] = set()
    for page in render_pages(combo):
        assert page.image.size == (combo.model.width, combo.model.height)
        found.update(zbar_decode(page.png()))
    assert found == {("QR-Code", content.qr_url), ("EAN-13", content.gtin)}


@pytest.mark.parametrize("combo", OCR_COMBOS, ids=[c.id for c in OCR_COMBOS])
def test_selling_price_digits_read_back(combo: Combo) -> None:
    """tesseract reads the digits of the formatted selling price from regions["price"]."""
    content = combo.content
    pages = [page for page in render_pages(combo) if "price" in page.regions]
    assert pages, f"no page of {combo.template} has a 'price' region"
    for page in pages:
        box = page.regions["price"]
        crop = page.rgb().crop((box.x, box.y, box.right, box.bottom))
        read = ocr_digits(price_on_one_line(_png(crop)))
        expected = format_money(content.price, content.locale)
        assert _digits(read) == _digits(expected), f"read {read!r} for {expected!r}"


def test_zbar_finds_nothing_on_a_blank_panel() -> None:
    """A white panel decodes to no symbol at all (zbar's 'nothing found' is not an error)."""
    assert zbar_decode(_png(Image.new("1", (296, 128), 1))) == []


def test_price_on_one_line_leaves_a_single_size_line_alone() -> None:
    """A crop with no small raised decimals is handed to tesseract unchanged."""
    plain = Image.new("L", (40, 20), 255)
    plain.paste(0, (5, 4, 12, 16))
    plain.paste(0, (20, 4, 27, 16))
    png = _png(plain)
    assert price_on_one_line(png) == png
