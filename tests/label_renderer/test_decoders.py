"""Real decoders read every default label the way a shopper or a scanner would.

Over every label model x default template x locale: zbar decodes the QR code and the EAN-13 at
device resolution (one image pixel per panel pixel, no upscaling), and on 2.9" and larger panels
tesseract reads the selling price's digits from the price region.

Starting zbarimg or tesseract costs more than decoding one label, so each module-scoped fixture
runs its decoder once over the whole matrix; every test then checks its own combination.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import BytesIO

import pytest
from PIL import Image

from label_renderer import LabelImage, RenderError
from label_renderer.locales import format_money
from tests.label_renderer.renders import COMBOS, OCR_PANELS, Combo, render_pages
from tests.support.decoders import (
    ocr_digits_many,
    price_on_one_line,
    zbar_decode,
    zbar_decode_many,
)

OCR_COMBOS = tuple(c for c in COMBOS if c.panel in OCR_PANELS)


def _png(picture: Image.Image) -> bytes:
    out = BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _pages(combo: Combo) -> tuple[LabelImage, ...] | str:
    """The combo's rendered pages, or why they could not be rendered."""
    try:
        return render_pages(combo)
    except RenderError as exc:
        return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class PriceRead:
    page: int
    read: str


@pytest.fixture(scope="module")
def zbar_reads() -> dict[str, list[list[tuple[str, str]]] | str]:
    """Per combo, what zbar found on each page (or why there are no pages)."""
    rendered = {combo.id: _pages(combo) for combo in COMBOS}
    pngs = [
        page.png() for pages in rendered.values() if not isinstance(pages, str) for page in pages
    ]
    found = iter(zbar_decode_many(pngs))
    return {
        key: pages if isinstance(pages, str) else [next(found) for _ in pages]
        for key, pages in rendered.items()
    }


@pytest.fixture(scope="module")
def ocr_reads() -> dict[str, PriceRead | str]:
    """Per combo, what tesseract read in the headline price (or why nothing was read)."""
    crops: dict[str, tuple[int, bytes]] = {}
    reads: dict[str, PriceRead | str] = {}
    for combo in OCR_COMBOS:
        pages = _pages(combo)
        if isinstance(pages, str):
            reads[combo.id] = pages
            continue
        page = next((page for page in pages if "price" in page.regions), None)
        if page is None:
            reads[combo.id] = f"no page of {combo.template} has a 'price' region"
            continue
        box = page.regions["price"]
        crop = page.rgb().crop((box.x, box.y, box.right, box.bottom))
        crops[combo.id] = (page.page, price_on_one_line(_png(crop)))
    texts = ocr_digits_many([png for _, png in crops.values()])
    for (key, (page, _)), text in zip(crops.items(), texts, strict=True):
        reads[key] = PriceRead(page, text)
    return reads


@pytest.mark.parametrize("combo", COMBOS, ids=[c.id for c in COMBOS])
def test_qr_and_ean13_decode_to_the_content(
    combo: Combo, zbar_reads: dict[str, list[list[tuple[str, str]]] | str]
) -> None:
    """zbar reads, across the pages, the QR as exactly qr_url and the EAN-13 as exactly gtin."""
    reads = zbar_reads[combo.id]
    assert not isinstance(reads, str), reads
    found = {symbol for page in reads for symbol in page}
    content = combo.content
    assert found == {("QR-Code", content.qr_url), ("EAN-13", content.gtin)}


@pytest.mark.parametrize("combo", OCR_COMBOS, ids=[c.id for c in OCR_COMBOS])
def test_selling_price_digits_read_back(
    combo: Combo, ocr_reads: dict[str, PriceRead | str]
) -> None:
    """tesseract reads the digits of the formatted selling price from regions["price"] of the
    first page that shows it (the headline price a shopper reads from the aisle)."""
    result = ocr_reads[combo.id]
    assert not isinstance(result, str), result
    expected = format_money(combo.content.price, combo.locale)
    assert _digits(result.read) == _digits(expected), (
        f"page {result.page}: read {result.read!r} for {expected!r}"
    )


def test_matrix_renders_at_device_resolution() -> None:
    """Every rendered page is exactly the model's panel size (so zbar reads 1:1 pixels)."""
    for combo in COMBOS:
        pages = _pages(combo)
        if not isinstance(pages, str):
            assert {page.image.size for page in pages} == {(combo.model.width, combo.model.height)}


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
