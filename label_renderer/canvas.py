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

    def ink(self, colour: str) -> int:
        if colour == "white":
            return WHITE
        if colour == "accent" and self.palette is not Palette.BW:
            return ACCENT
        return BLACK

    def text_block(
        self, layout: TextLayout, box: Box, *, colour: str, align: str, valign: str
    ) -> Box:
        """Draw a fitted layout inside `box`; returns the box the text occupies."""
        if valign == "top":
            top = box.y
        elif valign == "bottom":
            top = box.bottom - layout.height
        else:
            top = box.y + (box.h - layout.height) // 2
        ink = self.ink(colour)
        left_most = box.right
        for index, (line, width) in enumerate(zip(layout.lines, layout.widths, strict=True)):
            if align == "center":
                x = box.x + (box.w - width) // 2
            elif align == "right":
                x = box.right - width
            else:
                x = box.x
            left_most = min(left_most, x)
            y = top + index * layout.line_height
            self.draw.text((x, y), line, font=layout.font, fill=ink, anchor="la")
        width = max(layout.widths, default=0)
        return Box(left_most, top, width, layout.height)
