"""The fonts shipped inside the package (Noto Sans, SIL OFL; see fonts/OFL.txt).

Output must never depend on the host, so fonts load from the package and always with Pillow's
basic layout engine: Latin, Turkish, Azerbaijani and Cyrillic need no complex shaping, and the
basic engine gives the same pixels whether or not the host's Pillow has libraqm.

Measuring and rasterizing text is nearly all of a label's cost: FreeType runs the font's hinting
program for every glyph of every call, ~15 µs a glyph to measure and ~40 µs to render on the
project's machine, so a 25-character line costs ~1 ms. The faces `font` returns therefore cache,
and every cached answer is FreeType's own, so the pixels do not change:

- Whole strings: a reprice draws the same strings over and over (the currency sign, the whole
  part of most prices, "90", the fixed phrases, an item's name on each of its labels), so
  measurements and rendered masks are remembered per string. Masks are never written to
  (ImageDraw only reads them).
- Measurements of new strings: fitting a name measures every prefix of it that word wrap tries,
  its advance and its ink. Pillow's basic layout measures a string as the sum of its glyphs'
  advances plus kerning, and its box as the union of the glyphs' outline boxes at their pen
  positions; the shipped fonts have no `kern` table (basic layout ignores GPOS), so both come
  exactly from cached per-glyph answers. Each face checks on first use that kerned pairs measure
  as the sum of their glyphs (`_glyph_sums`), and otherwise measures whole strings.

Rendering a new string from cached glyph bitmaps would be faster still, but it is not exact:
FreeType places a string's glyphs from the union of their bitmaps and sizes the mask from their
outlines, and at small sizes some glyphs' bitmaps overhang their outlines (the comma at 8 px),
so a glyph rendered alone can land one pixel away from where the same glyph lands in a string.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from importlib import resources
from io import BytesIO
from typing import TYPE_CHECKING, Any, Literal

from PIL import ImageFont

if TYPE_CHECKING:
    from PIL._imaging import ImagingCore

FontName = Literal["regular", "bold"]

_FILES: dict[str, str] = {"regular": "NotoSans-Regular.ttf", "bold": "NotoSans-Bold.ttf"}

# Entries, shared by all faces. A mask is one byte a pixel: a 200x20 name is 4 KB, a 52 px price
# under 3 KB, so 4,096 string masks stay under ~16 MB per process.
_STRING_MASKS = 4096
_GLYPHS = 16384
_MEASURES = 32768

# Pairs that Noto Sans's GPOS table kerns: if FreeType ever applied kerning in the basic layout
# (a build with GPOS kerning, a font with a `kern` table), they would measure short.
_KERNED_PAIRS = ("AV", "To", "Ta", "Wa", "Yo", "LT", "P.", "F,", "Te", "Vo")

_FreeType = ImageFont.FreeTypeFont


class CachedFont(ImageFont.FreeTypeFont):
    """A FreeTypeFont whose getlength, getbbox and getmask2 remember their answers.

    Calls the renderer never makes (OpenType features, a direction or language, which the
    basic layout rejects anyway; a stroke; a fractional start; anti-aliased masks) go straight
    to FreeType.
    """

    @cached_property
    def _glyph_sums(self) -> bool:
        """Whether a string measures as the sum of its glyphs: no kerning in the basic layout."""
        for mode in ("", "1"):
            for pair in _KERNED_PAIRS:
                whole = _FreeType.getlength(self, pair, mode)
                if whole != sum(_FreeType.getlength(self, ch, mode) for ch in pair):
                    return False
        return True

    def getlength(
        self,
        text: str | bytes,
        mode: str = "",
        direction: str | None = None,
        features: list[str] | None = None,
        language: str | None = None,
    ) -> float:
        if features is not None or direction is not None or language is not None:
            return super().getlength(text, mode, direction, features, language)
        if isinstance(text, str) and mode in {"", "1"} and self._glyph_sums:
            return sum(_advance(self, ch, mode) for ch in text) / 64
        return _length(self, text, mode)

    def getbbox(  # noqa: PLR0917 -- Pillow's signature
        self,
        text: str | bytes | bytearray,
        mode: str = "",
        direction: str | None = None,
        features: list[str] | None = None,
        language: str | None = None,
        stroke_width: float = 0,
        anchor: str | None = None,
    ) -> tuple[float, float, float, float]:
        plain = features is None and direction is None and language is None and not stroke_width
        if not plain or isinstance(text, bytearray):
            return super().getbbox(text, mode, direction, features, language, stroke_width, anchor)
        if isinstance(text, str) and mode in {"", "1"} and anchor == "ls" and self._glyph_sums:
            box = _summed_bbox(self, text, mode)
            if box is not None:
                return box
        return _bbox(self, text, mode, anchor)

    def getmask2(  # noqa: PLR0917 -- Pillow's signature
        self,
        text: str | bytes,
        mode: str = "",
        direction: str | None = None,
        features: list[str] | None = None,
        language: str | None = None,
        stroke_width: float = 0,
        anchor: str | None = None,
        ink: int = 0,
        start: tuple[float, float] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[ImagingCore, tuple[int, int]]:
        simple = (
            isinstance(text, str)
            and mode == "1"
            and features is None
            and direction is None
            and language is None
            and not stroke_width
            and anchor is not None
            and (start is None or not any(start))
            and not args
            and not set(kwargs) - {"stroke_filled"}
        )
        if not simple:
            return super().getmask2(
                text,
                mode,
                direction,
                features,
                language,
                stroke_width,
                anchor,
                ink,
                start,
                *args,
                **kwargs,
            )
        assert isinstance(text, str)
        assert anchor is not None
        return _string_mask(self, text, anchor, ink)


@lru_cache(maxsize=_GLYPHS)
def _advance(face: CachedFont, ch: str, mode: str) -> int:
    return round(_FreeType.getlength(face, ch, mode) * 64)


@lru_cache(maxsize=_GLYPHS)
def _glyph_box(face: CachedFont, ch: str, mode: str) -> tuple[int, int, int, int, int] | None:
    """(advance, left, top, right, bottom) in whole pixels; None for a fractional advance."""
    advance = _advance(face, ch, mode)
    if advance % 64:
        return None
    left, top, right, bottom = _FreeType.getbbox(face, ch, mode, anchor="ls")
    return advance // 64, int(left), int(top), int(right), int(bottom)


def _summed_bbox(face: CachedFont, text: str, mode: str) -> tuple[int, int, int, int] | None:
    """A string's bounding box on its baseline from its glyphs' boxes, as FreeType forms it:
    the union of the glyphs' outline boxes, each at its pen position, and of the pen line.

    A glyph's own box is clamped by its pen line (left at most 0, right at least its advance),
    which changes nothing in the union. Pens are whole pixels when every advance is, and only
    then does this hold: None asks FreeType instead.
    """
    left = top = right = bottom = x = 0
    for ch in text:
        glyph = _glyph_box(face, ch, mode)
        if glyph is None:
            return None
        advance, g_left, g_top, g_right, g_bottom = glyph
        # Comparisons, not min() and max(): word wrap runs this for every prefix it tries, and
        # the calls take 3x as long (20 vs 6 us for a 40-character line).
        if x + g_left < left:  # noqa: PLR1730
            left = x + g_left
        if g_top < top:  # noqa: PLR1730
            top = g_top
        if x + g_right > right:  # noqa: PLR1730
            right = x + g_right
        if g_bottom > bottom:  # noqa: PLR1730
            bottom = g_bottom
        x += advance
    return left, top, right, bottom


@lru_cache(maxsize=_MEASURES)
def _length(face: CachedFont, text: str | bytes, mode: str) -> float:
    return _FreeType.getlength(face, text, mode)


@lru_cache(maxsize=_MEASURES)
def _bbox(
    face: CachedFont, text: str | bytes, mode: str, anchor: str | None
) -> tuple[float, float, float, float]:
    return _FreeType.getbbox(face, text, mode, anchor=anchor)


@lru_cache(maxsize=_STRING_MASKS)
def _string_mask(
    face: CachedFont, text: str, anchor: str, ink: int
) -> tuple[ImagingCore, tuple[int, int]]:
    return _FreeType.getmask2(face, text, "1", anchor=anchor, ink=ink, start=(0, 0))


@lru_cache(maxsize=8)
def _font_bytes(name: str) -> bytes:
    return resources.files("label_renderer").joinpath("fonts", _FILES[name]).read_bytes()


@lru_cache(maxsize=512)
def font(name: FontName, size: int) -> ImageFont.FreeTypeFont:
    """The shipped font at a pixel size; cached, since loading a face costs ~1 ms."""
    return CachedFont(BytesIO(_font_bytes(name)), size, layout_engine=ImageFont.Layout.BASIC)
