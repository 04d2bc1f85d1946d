"""Badges and icons: rating stars, stock state, the promotion badge, a few line icons.

Icons are drawn from polygons in a unit square rather than shipped as bitmaps, so they are crisp
at every size and need no asset files. Noto Sans has no star glyph, hence the polygon stars.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

from PIL import Image, ImageDraw

from label_renderer.canvas import Box, Canvas
from label_renderer.content import LabelContent, PriceKind, StockBadge
from label_renderer.fonts import font
from label_renderer.locales import format_count, message, stock_text
from label_renderer.template import IconElement, PromoBadgeElement, RatingElement, StockBadgeElement
from label_renderer.textfit import fit_text

Points = list[tuple[float, float]]


@lru_cache(maxsize=1)
def _star_unit() -> tuple[tuple[float, float], ...]:
    points = []
    for i in range(10):
        radius = 0.5 if i % 2 == 0 else 0.2
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((0.5 + radius * math.cos(angle), 0.52 + radius * math.sin(angle)))
    return tuple(points)


def _scaled(points: Points | tuple[tuple[float, float], ...], x: int, y: int, size: int) -> Points:
    return [(x + px * (size - 1), y + py * (size - 1)) for px, py in points]


@lru_cache(maxsize=64)
def _star_mask(size: int, fill: float) -> Image.Image:
    """A star as a 1-bit mask: solid, outlined, or outlined with its left half solid."""
    outline = _scaled(_star_unit(), 0, 0, size)
    mask = Image.new("1", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    if fill > 0:
        draw.polygon(outline, fill=1)
        if fill < 1:
            draw.rectangle([size // 2, 0, size - 1, size - 1], fill=0)
    draw.polygon(outline, outline=1)
    return mask


def _star(canvas: Canvas, at: tuple[int, int], size: int, ink: int, fill: float) -> None:
    canvas.image.paste(ink, at, _star_mask(size, fill))


def draw_rating(canvas: Canvas, element: RatingElement, content: LabelContent) -> Box | None:
    rating = content.rating
    if rating is None:
        return None
    size = element.h
    gap = max(1, size // 6)
    count_text = f"({format_count(rating.count, content.locale)})" if element.count else ""
    stars = max(Decimal(0), min(Decimal(5), rating.stars))
    halves = int((stars * 2).to_integral_value())
    ink = canvas.ink(element.colour)
    x = element.x
    for index in range(5):
        filled = halves - 2 * index
        _star(
            canvas, (x, element.y), size, ink, 1.0 if filled >= 2 else 0.5 if filled == 1 else 0.0
        )
        x += size + gap
    if count_text:
        room = element.x + element.w - x
        if room > 0:
            layout = fit_text(
                count_text,
                font_name="regular",
                size=element.count_size or size,
                min_size=element.count_size or size,
                max_lines=1,
                width=room,
                height=element.h,
            )
            if layout.truncated:  # a cut count would misquote it; leave it out
                return Box(element.x, element.y, x - element.x, element.h)
            canvas.text_block(
                layout,
                Box(x, element.y, room, element.h),
                colour="black",
                align="left",
                valign="middle",
            )
    return Box(element.x, element.y, element.w, element.h)


def _badge(
    canvas: Canvas,
    element: StockBadgeElement | PromoBadgeElement,
    text: str,
    style: str,
    radius: int = 0,
) -> Box:
    box = Box(element.x, element.y, element.w, element.h)
    ink = canvas.ink(element.colour)
    if style == "plain":  # no frame to keep clear of: the text may use the whole box
        inner = box
    else:
        pad = max(2, element.h // 6)
        inner = Box(box.x + pad, box.y + 1, box.w - 2 * pad, box.h - 2)
    layout = fit_text(
        text,
        font_name=element.font,
        size=element.size,
        min_size=element.min_size or element.size,
        # plain text may wrap in a tall box; a framed badge only as far as its template allows
        max_lines=3 if style == "plain" else getattr(element, "max_lines", 1),
        width=inner.w,
        height=inner.h,
    )
    corners = [box.x, box.y, box.right - 1, box.bottom - 1]
    if style == "filled":
        canvas.draw.rounded_rectangle(corners, radius=radius, fill=ink)
    elif style == "outline":
        canvas.draw.rounded_rectangle(
            corners, radius=radius, outline=ink, width=max(1, box.h // 14)
        )
    text_colour = canvas.on(element.colour) if style == "filled" else canvas.legible(element.colour)
    canvas.text_block(layout, inner, colour=text_colour, align=element.align, valign=element.valign)
    return box


_STOCK_ICON = {
    StockBadge.ONLINE: "truck",
    StockBadge.PICKUP: "store",
    StockBadge.LOW: "tag",
    StockBadge.OUT: "tag",
}


def draw_stock_badge(
    canvas: Canvas, element: StockBadgeElement, content: LabelContent
) -> Box | None:
    if content.stock is None:
        return None
    text = stock_text(content.locale, content.stock)
    if not element.icon or element.h < 10:
        return _badge(canvas, element, text, element.style)
    # One text line high, even when plain text wraps onto more lines in a taller box.
    ascent, descent = font(element.font, element.size).getmetrics()
    icon_size = min(element.h, ascent + descent) - 4
    icon_box = Box(element.x, element.y + (element.h - icon_size) // 2, icon_size, icon_size)
    _ICONS[_STOCK_ICON[content.stock]](canvas, icon_box, canvas.ink(element.colour))
    rest = element.model_copy(
        update={"x": element.x + icon_size + 3, "w": element.w - icon_size - 3}
    )
    _badge(canvas, rest, text, element.style)
    return Box(element.x, element.y, element.w, element.h)


def promo_badge_text(content: LabelContent) -> str | None:
    """What the badge says: the computed reduction first (never a typed percentage)."""
    if content.kind is PriceKind.NORMAL:
        return None
    percent = content.discount_percent
    if percent is not None:
        return f"-%{percent}" if content.locale.startswith("tr") else f"-{percent}%"
    if content.promo_text:
        return content.promo_text
    return message(
        content.locale, "clearance" if content.kind is PriceKind.CLEARANCE else "promotion"
    )


def draw_promo_badge(
    canvas: Canvas, element: PromoBadgeElement, content: LabelContent
) -> Box | None:
    text = promo_badge_text(content)
    if text is None:
        return None
    return _badge(canvas, element, text, element.style, element.radius)


def _truck(canvas: Canvas, box: Box, ink: int) -> None:
    s = box.w
    x, y = box.x, box.y
    width = max(1, s // 12)
    canvas.draw.rectangle([x, y + s * 0.2, x + s * 0.62, y + s * 0.72], outline=ink, width=width)
    canvas.draw.polygon(
        [
            (x + s * 0.62, y + s * 0.38),
            (x + s * 0.84, y + s * 0.38),
            (x + s - 1, y + s * 0.56),
            (x + s - 1, y + s * 0.72),
            (x + s * 0.62, y + s * 0.72),
        ],
        outline=ink,
        width=width,
    )
    r = s * 0.11
    for cx in (x + s * 0.22, x + s * 0.8):
        canvas.draw.ellipse([cx - r, y + s * 0.82 - r, cx + r, y + s * 0.82 + r], fill=ink)


def _store(canvas: Canvas, box: Box, ink: int) -> None:
    s = box.w
    x, y = box.x, box.y
    width = max(1, s // 12)
    canvas.draw.polygon(
        [(x, y + s * 0.4), (x + s * 0.5, y + s * 0.08), (x + s - 1, y + s * 0.4)], fill=ink
    )
    canvas.draw.rectangle(
        [x + s * 0.1, y + s * 0.4, x + s * 0.9, y + s - 1], outline=ink, width=width
    )
    canvas.draw.rectangle([x + s * 0.4, y + s * 0.62, x + s * 0.6, y + s - 1], fill=ink)


def _tag(canvas: Canvas, box: Box, ink: int) -> None:
    s = box.w
    x, y = box.x, box.y
    canvas.draw.polygon(
        [
            (x, y + s * 0.5),
            (x + s * 0.45, y + s * 0.05),
            (x + s - 1, y + s * 0.05),
            (x + s - 1, y + s * 0.6),
            (x + s * 0.45, y + s - 1),
        ],
        fill=ink,
    )
    r = s * 0.08
    canvas.draw.ellipse(
        [x + s * 0.75 - r, y + s * 0.25 - r, x + s * 0.75 + r, y + s * 0.25 + r],
        fill=canvas.ink("white"),
    )


def _leaf(canvas: Canvas, box: Box, ink: int) -> None:
    s = box.w
    x, y = box.x, box.y
    canvas.draw.chord([x, y + s * 0.1, x + s * 1.4, y + s * 1.5], 180, 270, fill=ink)
    canvas.draw.line(
        [(x + s * 0.1, y + s - 1), (x + s * 0.7, y + s * 0.45)],
        fill=canvas.ink("white"),
        width=max(1, s // 14),
    )


def _cart(canvas: Canvas, box: Box, ink: int) -> None:
    s = box.w
    x, y = box.x, box.y
    width = max(1, s // 12)
    canvas.draw.line(
        [
            (x, y + s * 0.1),
            (x + s * 0.2, y + s * 0.1),
            (x + s * 0.32, y + s * 0.66),
            (x + s * 0.9, y + s * 0.66),
        ],
        fill=ink,
        width=width,
    )
    canvas.draw.polygon(
        [
            (x + s * 0.24, y + s * 0.24),
            (x + s - 1, y + s * 0.24),
            (x + s * 0.88, y + s * 0.54),
            (x + s * 0.3, y + s * 0.54),
        ],
        fill=ink,
    )
    r = s * 0.08
    for cx in (x + s * 0.38, x + s * 0.82):
        canvas.draw.ellipse([cx - r, y + s * 0.84 - r, cx + r, y + s * 0.84 + r], fill=ink)


def _star_icon(canvas: Canvas, box: Box, ink: int) -> None:
    _star(canvas, (box.x, box.y), box.w, ink, 1.0)


_ICONS: dict[str, Callable[[Canvas, Box, int], None]] = {
    "truck": _truck,
    "store": _store,
    "tag": _tag,
    "leaf": _leaf,
    "cart": _cart,
    "star": _star_icon,
}


def draw_icon(canvas: Canvas, element: IconElement, _content: LabelContent) -> Box:
    side = min(element.w, element.h)
    box = Box(element.x + (element.w - side) // 2, element.y + (element.h - side) // 2, side, side)
    _ICONS[element.name](canvas, box, canvas.ink(element.colour))
    return box
