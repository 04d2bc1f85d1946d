"""Plain text, rectangles, lines and photos.

Photos are the one thing that is dithered: Floyd-Steinberg to the panel's own palette, so a
picture keeps its tones on a two- or three-colour panel, while everything else stays crisp.
"""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

from PIL import Image, UnidentifiedImageError

from label_renderer.canvas import Box, Canvas, palette_bytes
from label_renderer.content import LabelContent
from label_renderer.errors import ContentError
from label_renderer.locales import message
from label_renderer.template import ImageElement, LineElement, RectElement, TextElement
from label_renderer.textfit import fit_text

_MAX_PHOTO_PIXELS = 4096 * 4096


def text_of(element: TextElement, content: LabelContent) -> str | None:
    if element.text is not None:
        return element.text
    if element.field == "origin":
        return message(content.locale, "origin", origin=content.origin) if content.origin else None
    if element.field == "reviews":
        return message(content.locale, "reviews") if content.qr_url else None
    if element.field == "promo_ends":
        return (
            message(content.locale, "promo_ends", date=content.promo_ends)
            if content.promo_ends
            else None
        )
    value = getattr(content, element.field or "name")
    return str(value) if value else None


def draw_text(canvas: Canvas, element: TextElement, content: LabelContent) -> Box | None:
    text = text_of(element, content)
    if not text:
        return None
    layout = fit_text(
        text,
        font_name=element.font,
        size=element.size,
        min_size=element.min_size or element.size,
        max_lines=element.max_lines,
        width=element.w,
        height=element.h,
        spacing=element.line_spacing,
    )
    box = Box(element.x, element.y, element.w, element.h)
    return canvas.text_block(
        layout, box, colour=element.colour, align=element.align, valign=element.valign
    )


def draw_rect(canvas: Canvas, element: RectElement, _content: LabelContent) -> Box:
    box = Box(element.x, element.y, element.w, element.h)
    fill = canvas.ink(element.fill) if element.fill else None
    outline = canvas.ink(element.outline) if element.outline else None
    canvas.draw.rounded_rectangle(
        [box.x, box.y, box.right - 1, box.bottom - 1],
        radius=element.radius,
        fill=fill,
        outline=outline,
        width=element.width,
    )
    return box


def draw_line(canvas: Canvas, element: LineElement, _content: LabelContent) -> Box:
    end = (element.x + element.w - 1, element.y + element.h - 1)
    canvas.draw.line(
        [(element.x, element.y), end], fill=canvas.ink(element.colour), width=element.width
    )
    return Box(element.x, element.y, element.w, element.h)


@lru_cache(maxsize=256)
def _dithered(photo: bytes, width: int, height: int, palette: tuple[int, ...]) -> Image.Image:
    try:
        with Image.open(BytesIO(photo)) as source:
            if source.width * source.height > _MAX_PHOTO_PIXELS:
                raise ContentError(
                    f"the image is {source.width}x{source.height}, too large for a label"
                )
            rgb = source.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ContentError(f"the item image cannot be decoded: {exc}") from exc
    rgb.thumbnail((width, height), Image.Resampling.LANCZOS)
    target = Image.new("P", (1, 1))
    target.putpalette(list(palette))
    return rgb.quantize(palette=target, dither=Image.Dither.FLOYDSTEINBERG)


def draw_image(canvas: Canvas, element: ImageElement, content: LabelContent) -> Box | None:
    if content.image is None:
        return None
    picture = _dithered(content.image, element.w, element.h, tuple(palette_bytes(canvas.palette)))
    box = Box(element.x, element.y, element.w, element.h)
    x = box.place_x(picture.width, element.align)
    y = box.place_y(picture.height)
    canvas.image.paste(picture, (x, y))
    return Box(x, y, picture.width, picture.height)
