"""render_label(content, template, model, page) -> LabelImage: the renderer's one entry point.

Rendering is a pure function of its inputs: the same content, template, model and page give the
same pixels, byte for byte, on any host (the fonts ship with the package). `LabelImage.planes()`
is what the device receives and `LabelImage.content_hash` (PROTOCOL.md §5.1) what it reports, so
the controller can skip a label whose new image equals the one it already shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from io import BytesIO
from typing import Any

from PIL import Image

from firmware_protocol.models import DeviceModel, Palette
from firmware_protocol.planes import content_hash
from label_renderer.canvas import ACCENT, BLACK, Box, Canvas
from label_renderer.content import LabelContent, PriceKind
from label_renderer.draw_badges import draw_icon, draw_promo_badge, draw_rating, draw_stock_badge
from label_renderer.draw_codes import draw_barcode, draw_qr
from label_renderer.draw_price import draw_price, draw_prior_price_note, draw_unit_price
from label_renderer.draw_shapes import draw_image, draw_line, draw_rect, draw_text
from label_renderer.errors import RenderError, TemplateError
from label_renderer.template import Condition, Template

# Palette index -> 255 where the pixel is in the plane, else 0: one byte a pixel, which Pillow's
# "1;8" decoder takes as a 1-bit image whose raw bytes are the packed plane.
_BLACK_BYTES = bytes(255 if value == BLACK else 0 for value in range(256))
_ACCENT_BYTES = bytes(255 if value == ACCENT else 0 for value in range(256))


def _reduced(content: LabelContent) -> bool:
    return content.kind is not PriceKind.NORMAL and content.prior_price is not None


_CONDITIONS: dict[str, Callable[[LabelContent], bool]] = {
    "normal": lambda c: c.kind is PriceKind.NORMAL,
    "promotion": lambda c: c.kind is PriceKind.PROMOTION,
    "clearance": lambda c: c.kind is PriceKind.CLEARANCE,
    "reduced": _reduced,
    "not_reduced": lambda c: not _reduced(c),
    "prior_price": lambda c: c.prior_price is not None,
    "no_prior_price": lambda c: c.prior_price is None,
    "unit_price": lambda c: c.unit_price is not None,
    "no_unit_price": lambda c: c.unit_price is None,
    "qr": lambda c: bool(c.qr_url),
    "gtin": lambda c: bool(c.gtin),
    "rating": lambda c: c.rating is not None,
    "stock": lambda c: c.stock is not None,
    "brand": lambda c: bool(c.brand),
    "variant": lambda c: bool(c.variant),
    "origin": lambda c: bool(c.origin),
    "image": lambda c: c.image is not None,
    "no_image": lambda c: c.image is None,
    "promo_text": lambda c: bool(c.promo_text),
    "promo_ends": lambda c: bool(c.promo_ends),
    "no_qr": lambda c: not c.qr_url,
    "no_gtin": lambda c: not c.gtin,
    "no_rating": lambda c: c.rating is None,
    "no_stock": lambda c: c.stock is None,
    "no_variant": lambda c: not c.variant,
}

_DRAWERS: dict[str, Callable[[Canvas, Any, LabelContent], Box | None]] = {
    "text": draw_text,
    "price": draw_price,
    "prior_price_note": draw_prior_price_note,
    "unit_price": draw_unit_price,
    "qr": draw_qr,
    "barcode": draw_barcode,
    "rating": draw_rating,
    "stock_badge": draw_stock_badge,
    "promo_badge": draw_promo_badge,
    "icon": draw_icon,
    "image": draw_image,
    "rect": draw_rect,
    "line": draw_line,
}


def holds(condition: Condition, content: LabelContent) -> bool:
    return _CONDITIONS[condition](content)


@dataclass(frozen=True)
class LabelImage:
    """One rendered page: palette indices in `image` ("P" mode), and where each element went."""

    model: DeviceModel
    template: str
    page: int
    image: Image.Image
    regions: Mapping[str, Box] = field(default_factory=dict)

    def pixels(self) -> bytes:
        """One byte per pixel, the palette index (0 white, 1 black, 2 accent)."""
        return self.image.tobytes()

    def planes(self) -> bytes:
        """The device's bit planes (PROTOCOL.md §5.1), packed by Pillow in C."""
        return self._planes

    @cached_property
    def _planes(self) -> bytes:
        return to_planes(self.image, self.model)

    @cached_property
    def content_hash(self) -> bytes:
        return content_hash(self._planes)

    def rgb(self, scale: int = 1) -> Image.Image:
        """What the panel shows, as RGB; `scale` enlarges with square pixels for previews."""
        shown = self.image.convert("RGB")
        if scale > 1:
            size = (shown.width * scale, shown.height * scale)
            shown = shown.resize(size, Image.Resampling.NEAREST)
        return shown

    def png(self, scale: int = 1) -> bytes:
        """A PNG of exactly what the panel shows (deterministic: no timestamps, fixed level)."""
        out = BytesIO()
        picture = self.image if scale == 1 else self.rgb(scale)
        picture.save(out, format="PNG", optimize=False, compress_level=9)
        return out.getvalue()


def to_planes(image: Image.Image, model: DeviceModel) -> bytes:
    """Palette indices to bit planes: a 1-bit image's raw bytes are exactly one plane."""
    indices = image.tobytes()
    planes = _plane(indices, _BLACK_BYTES, image.size)
    if model.palette is not None and model.palette is not Palette.BW:
        planes += _plane(indices, _ACCENT_BYTES, image.size)
    return planes


def _plane(indices: bytes, table: bytes, size: tuple[int, int]) -> bytes:
    return Image.frombytes("1", size, indices.translate(table), "raw", "1;8").tobytes()


def render_label(
    content: LabelContent, template: Template, model: DeviceModel, page: int = 1
) -> LabelImage:
    """Draw one page of `template` for `content` on `model`'s panel."""
    if (template.width, template.height) != (model.width, model.height):
        raise TemplateError(
            f"template {template.name!r} is {template.width}x{template.height}, "
            f"model {model.name} is {model.width}x{model.height}",
            template=template.name,
        )
    canvas = Canvas(model)
    regions: dict[str, Box] = {}
    for index, element in enumerate(template.page(page).elements):
        if not all(_CONDITIONS[c](content) for c in element.when):
            continue
        name = element.id or f"{element.type}-{index}"
        try:
            drawn = _DRAWERS[element.type](canvas, element, content)
        except RenderError as exc:
            exc.template = exc.template or template.name
            exc.element = exc.element or name
            raise
        if drawn is not None:
            regions[name] = drawn
    return LabelImage(model, template.name, page, canvas.image, regions)
