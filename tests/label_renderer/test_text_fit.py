"""Text fitting: shrink, then wrap, then cut with an ellipsis, and never leave the box."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocol.models import model_by_name
from label_renderer.canvas import Box, Canvas
from label_renderer.fonts import FontName, font
from label_renderer.textfit import ELLIPSIS, TextLayout, fit_text

TURKISH = "abcçdefgğhıijklmnoöprsştuüvyzâîûABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZÂÎÛ"
AZERBAIJANI = "əƏqQxXwW"
LETTERS = TURKISH + AZERBAIJANI + "0123456789.,-/%₺₼"
PROPERTY = settings(max_examples=120, deadline=None)


def _fit(text: str, **box: int) -> TextLayout:
    return fit_text(
        text,
        font_name="regular",
        size=box["size"],
        min_size=box["min_size"],
        max_lines=box["max_lines"],
        width=box["width"],
        height=box["height"],
    )


def _line_height(name: FontName, size: int) -> int:
    ascent, descent = font(name, size).getmetrics()
    return int(ascent + descent)


def test_shrinks_before_it_wraps() -> None:
    """A name too wide at the element's size is set smaller on one line, not wrapped or cut."""
    layout = _fit("Pınar Süzme Peynir", size=24, min_size=10, max_lines=1, width=150, height=40)
    assert 10 <= layout.font.size < 24
    assert layout.lines == ("Pınar Süzme Peynir",)
    assert not layout.truncated
    assert max(layout.widths) <= 150


def test_wraps_up_to_max_lines_before_cutting() -> None:
    """At min_size a long name wraps onto max_lines lines, every word kept."""
    text = "Şəki halvası qozlu, ənənəvi reseptlə hazırlanmış"
    layout = _fit(text, size=12, min_size=12, max_lines=3, width=120, height=60)
    assert 1 < len(layout.lines) <= 3
    assert not layout.truncated
    assert " ".join(layout.lines) == text


def test_ellipsis_at_min_size_when_nothing_else_fits() -> None:
    """Text that does not fit max_lines at min_size ends its last line with '…'."""
    text = "Yayla Organik Yerli Üretim Gün Kurusu Kırmızı Biber Salçası Acılı Ev Yapımı"
    layout = _fit(text, size=20, min_size=11, max_lines=2, width=140, height=60)
    assert layout.truncated
    assert layout.font.size == 11
    assert len(layout.lines) == 2
    assert layout.lines[-1].endswith(ELLIPSIS)
    assert max(layout.widths) <= 140


def test_single_over_long_word_is_broken_between_characters() -> None:
    """A word wider than the box at min_size is hard-broken; no character is lost."""
    word = "Çekoslovakyalılaştıramadıklarımızdanmışsınızcasına"
    layout = _fit(word, size=12, min_size=12, max_lines=6, width=90, height=120)
    assert len(layout.lines) > 1
    assert "".join(layout.lines) == word
    assert max(layout.widths) <= 90


@dataclass(frozen=True)
class _Box:
    font_name: FontName
    size: int
    min_size: int
    max_lines: int
    width: int
    height: int


@st.composite
def _boxes(draw: st.DrawFn) -> _Box:
    """Boxes a template could sensibly declare: one line at min_size and an ellipsis fit."""
    font_name: FontName = draw(st.sampled_from(["regular", "bold"]))
    min_size = draw(st.integers(7, 30))
    size = draw(st.integers(min_size, 48))
    ellipsis = int(font(font_name, min_size).getlength(ELLIPSIS) + 1)
    one_line = _line_height(font_name, min_size)
    return _Box(
        font_name,
        size,
        min_size,
        draw(st.integers(1, 4)),
        draw(st.integers(max(ellipsis, 2 * min_size), 400)),
        draw(st.integers(one_line, 4 * one_line + 20)),
    )


@PROPERTY
@given(text=st.text(alphabet=LETTERS + "   ", min_size=1, max_size=160), box=_boxes())
def test_fitted_text_never_exceeds_its_box(text: str, box: _Box) -> None:
    """Any Turkish/Azerbaijani text: lines <= max_lines, widths <= width, height <= height."""
    layout = fit_text(
        text,
        font_name=box.font_name,
        size=box.size,
        min_size=box.min_size,
        max_lines=box.max_lines,
        width=box.width,
        height=box.height,
    )
    assert box.min_size <= layout.font.size <= box.size
    assert len(layout.lines) <= box.max_lines
    assert all(w <= box.width for w in layout.widths)
    assert all(
        w == int(layout.font.getlength(line) + 0.999)
        for line, w in zip(layout.lines, layout.widths, strict=True)
    )
    if text.split():
        assert layout.height <= box.height
    if layout.truncated:
        assert layout.font.size == box.min_size
        assert layout.lines[-1].endswith(ELLIPSIS)
    else:
        assert "".join(layout.lines).replace(" ", "") == "".join(text.split())


def _ink_box(text: str, size: int, box: Box, align: str) -> tuple[int, int, int, int]:
    """Where the ink of `text` fitted into `box` lands on a 7.5" panel."""
    canvas = Canvas(model_by_name("epd750-bw"))
    layout = fit_text(
        text, font_name="bold", size=size, min_size=size, max_lines=1, width=box.w, height=box.h
    )
    assert not layout.truncated
    canvas.text_block(layout, box, colour="black", align=align, valign="middle")
    ink = canvas.image.getbbox()
    assert ink is not None
    return ink


def test_glyph_with_negative_left_bearing_stays_in_its_box() -> None:
    """A left-aligned 'Jöle' at 44 px inks nothing left of its box (Noto's J hangs left)."""
    box = Box(100, 100, 300, 80)
    left, _, right, _ = _ink_box("Jöle Jelibon", 44, box, "left")
    assert left >= box.x, f"ink starts {box.x - left} px left of the box"
    assert right <= box.right


def test_glyph_overhanging_its_advance_stays_in_its_box() -> None:
    """A right-aligned word ending in 'f' at 44 px inks nothing right of its box."""
    box = Box(100, 100, 500, 80)
    left, _, right, _ = _ink_box("Kraft Buğday Saf", 44, box, "right")
    assert left >= box.x
    assert right <= box.right, f"ink ends {right - box.right} px right of the box"


def test_box_lower_than_one_line_at_min_size_is_not_overflowed() -> None:
    """A 16 px box with min_size 15 (the epd420 rating's review count) gets no 21 px line."""
    layout = _fit("(1.284)", size=15, min_size=15, max_lines=1, width=120, height=16)
    assert layout.height <= 16, f"a {layout.height} px line in a 16 px box"
