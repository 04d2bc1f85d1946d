"""Fitting text into a box: shrink, then wrap, then cut with an ellipsis.

The rule, in order: try the element's size on as many lines as the box and `max_lines` allow;
if the text does not fit, try one pixel smaller, down to `min_size`; at `min_size` wrap what fits
and end the last line with "…" (going below `min_size` only for a box lower than one line of
it). A single word wider than the box is broken between characters, so nothing ever leaves its
box. "Fits" counts ink, not just the advance: Noto's "J" hangs left of its pen position and a
final "f" right of its advance, by up to ~10% of the size, and a glyph that pokes out of its box
collides with the neighbouring element. Layouts are cached by (text, font, box): a store reprice
renders the same names and prices over and over, and measuring is most of a label's cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PIL import ImageFont

from label_renderer.fonts import FontName, font

ELLIPSIS = "…"
_SMALLEST = 6  # the smallest size a template may ask for


@dataclass(frozen=True, slots=True)
class TextLayout:
    font: ImageFont.FreeTypeFont
    lines: tuple[str, ...]
    widths: tuple[int, ...]  # advance widths
    line_height: int  # baseline to baseline
    ascent: int
    descent: int
    truncated: bool
    # Per line: how far the ink hangs left of the pen (>= 0), and the width of ink and advance
    # together; set the pen `lead` px in from the box edge and the line spans `span` px.
    leads: tuple[int, ...] = ()
    spans: tuple[int, ...] = ()

    @property
    def height(self) -> int:
        return self.ascent + self.descent + (len(self.lines) - 1) * self.line_height


def _width(face: ImageFont.FreeTypeFont, text: str) -> int:
    return int(face.getlength(text) + 0.999)


def _extent(face: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
    """(lead, span): the ink's overhang left of the pen, and ink plus advance from there on."""
    left, _, right, _ = face.getbbox(text, anchor="ls")
    lead = max(0, -int(left))
    return lead, lead + max(_width(face, text), int(right))


def _span(face: ImageFont.FreeTypeFont, text: str) -> int:
    return _extent(face, text)[1]


def _break_word(face: ImageFont.FreeTypeFont, word: str, width: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and _span(face, current + ch) > width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


def _wrap(face: ImageFont.FreeTypeFont, text: str, width: int, *, hard: bool) -> list[str] | None:
    """Greedy word wrap; None if a word alone is too wide and `hard` breaking is off."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if _span(face, candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        if _span(face, word) <= width:
            current = word
            continue
        if not hard:
            return None
        *full, current = _break_word(face, word, width)
        lines.extend(full)
    if current:
        lines.append(current)
    return lines


def _ellipsize(face: ImageFont.FreeTypeFont, line: str, width: int) -> str:
    text = line.rstrip()
    while text and _span(face, text + ELLIPSIS) > width:
        text = text[:-1].rstrip()
    return text + ELLIPSIS if _span(face, ELLIPSIS) <= width else ""


def _layout(
    face: ImageFont.FreeTypeFont, lines: list[str], spacing: float, truncated: bool
) -> TextLayout:
    ascent, descent = face.getmetrics()
    extents = [_extent(face, line) for line in lines]
    return TextLayout(
        font=face,
        lines=tuple(lines),
        widths=tuple(_width(face, line) for line in lines),
        line_height=round(int(face.size) * spacing),
        ascent=ascent,
        descent=descent,
        truncated=truncated,
        leads=tuple(lead for lead, _ in extents),
        spans=tuple(span for _, span in extents),
    )


def _lines_that_fit(face: ImageFont.FreeTypeFont, height: int, spacing: float) -> int:
    ascent, descent = face.getmetrics()
    if ascent + descent > height:
        return 0
    return 1 + (height - ascent - descent) // round(int(face.size) * spacing)


def _last_resort_size(font_name: FontName, min_size: int, height: int, spacing: float) -> int:
    """`min_size`, unless a box lower than one line at `min_size` needs smaller: a line that
    spills out of its box collides with its neighbours, which is worse than small text."""
    for candidate in range(min_size, _SMALLEST - 1, -1):
        if _lines_that_fit(font(font_name, candidate), height, spacing) > 0:
            return candidate
    return _SMALLEST


@lru_cache(maxsize=16384)
def fit_text(
    text: str,
    *,
    font_name: FontName,
    size: int,
    min_size: int,
    max_lines: int,
    width: int,
    height: int,
    spacing: float = 1.15,
) -> TextLayout:
    """The largest layout of `text` inside width x height (see the module docstring)."""
    text = " ".join(text.split())
    for candidate in range(size, min_size - 1, -1):
        face = font(font_name, candidate)
        room = min(max_lines, _lines_that_fit(face, height, spacing))
        if room == 0:
            continue
        lines = _wrap(face, text, width, hard=False)
        if lines is not None and len(lines) <= room:
            return _layout(face, lines, spacing, truncated=False)
    face = font(font_name, _last_resort_size(font_name, min_size, height, spacing))
    room = max(1, min(max_lines, _lines_that_fit(face, height, spacing)))
    lines = _wrap(face, text, width, hard=True) or [""]
    if len(lines) <= room:
        return _layout(face, lines, spacing, truncated=False)
    kept = lines[:room]
    kept[-1] = _ellipsize(face, f"{kept[-1]} {lines[room]}", width)
    return _layout(face, kept, spacing, truncated=True)
