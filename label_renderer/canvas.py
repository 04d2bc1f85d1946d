"""The drawing surface: a palette image whose pixel values are the panel's own indices.

Drawing happens directly in palette indices (0 white, 1 black, 2 accent), never in RGB that is
quantized afterwards: text, bars and QR modules are set with anti-aliasing off, so they come out
crisp by construction. Only photos are dithered (see draw_shapes.draw_image).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

from firmware_protocol.models import DeviceModel, Palette
from label_renderer.textfit import TextLayout

WHITE, BLACK, ACCENT = 0, 1, 2

# WCAG 2 asks 4.5:1 for text against its background. Red ink on white passes (~5.9:1), yellow
# does not (~1.5:1): on a BWY panel "accent_text" falls back to black, and text on a yellow fill
# is black rather than white.
_TEXT_CONTRAST = 4.5


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


@dataclass(frozen=True, slots=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def place_x(self, width: int, align: str) -> int:
        """The left edge of something `width` wide, aligned left, center or right in the box."""
        if align == "center":
            return self.x + (self.w - width) // 2
        if align == "right":
            return self.right - width
        return self.x

    def place_y(self, height: int, valign: str = "middle") -> int:
        """The top edge of something `height` high, aligned top, middle or bottom in the box."""
        if valign == "top":
            return self.y
        if valign == "bottom":
            return self.bottom - height
        return self.y + (self.h - height) // 2

    def contains(self, other: Box) -> bool:
        return (
            self.x <= other.x
            and self.y <= other.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )


def palette_bytes(palette: Palette) -> list[int]:
    flat: list[int] = []
    for rgb in palette.colours:
        flat.extend(rgb)
    return flat


class Canvas:
    """One page being drawn: the image, its ImageDraw and the palette's ink for each role."""

    def __init__(self, model: DeviceModel) -> None:
        if model.palette is None:
            raise ValueError(f"model {model.name} has no panel")
        self.model = model
        self.palette = model.palette
        self.image = Image.new("P", (model.width, model.height), WHITE)
        self.image.putpalette(palette_bytes(model.palette))
        self.draw = ImageDraw.Draw(self.image)
        self.draw.fontmode = "1"  # no anti-aliasing: e-paper has no grey
        self._luminance = [_luminance(rgb) for rgb in model.palette.colours]
        self._accent_is_text = self.palette is not Palette.BW and (
            _contrast(self._luminance[ACCENT], self._luminance[WHITE]) >= _TEXT_CONTRAST
        )

    def ink(self, colour: str) -> int:
        """The palette index of a colour role.

        "accent" is the panel's accent (black on BW); "accent_text" is the accent only where it
        reads as text on white (red), else black: yellow letters on white are all but invisible.
        """
        if colour == "white":
            return WHITE
        if colour == "accent" and self.palette is not Palette.BW:
            return ACCENT
        if colour == "accent_text" and self._accent_is_text:
            return ACCENT
        return BLACK

    def on(self, colour: str) -> str:
        """The role for text set on a solid fill of `colour`: white on black or red, black on
        white or yellow, whichever contrasts more."""
        fill = self._luminance[self.ink(colour)]
        white = _contrast(fill, self._luminance[WHITE])
        black = _contrast(fill, self._luminance[BLACK])
        return "white" if white >= black else "black"

    def legible(self, colour: str) -> str:
        """The role for text in `colour` on white: "accent" becomes "accent_text"."""
        return "accent_text" if colour == "accent" else colour

    def text_block(
        self, layout: TextLayout, box: Box, *, colour: str, align: str, valign: str
    ) -> Box:
        """Draw a fitted layout inside `box`; returns the box the text occupies."""
        top = box.place_y(layout.height, valign)
        ink = self.ink(colour)
        spans = layout.spans or layout.widths
        leads = layout.leads or (0,) * len(layout.lines)
        left_most = box.right
        for index, (line, span, lead) in enumerate(zip(layout.lines, spans, leads, strict=True)):
            x = box.place_x(span, align)
            left_most = min(left_most, x)
            y = top + index * layout.line_height
            self.draw.text((x + lead, y), line, font=layout.font, fill=ink, anchor="la")
        return Box(left_most, top, max(spans, default=0), layout.height)
