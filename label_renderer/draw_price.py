"""Prices: the selling price, the struck-through prior price, the Omnibus line, the unit price.

A price is never cut or wrapped: it shrinks until it fits, below the template's `min_size` if it
must (down to 8 px), and a price that cannot fit even then is an error, not a truncated label.

The split style sets the whole part large and the decimals small and raised, with a trailing
currency sign stacked under the decimals ("1.299" "⁹⁰/₺"), the way shelf prices are printed. The
sign never touches the decimals: when large decimals leave little room under them it is set
smaller, and when they leave none it goes beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PIL import ImageFont

from label_renderer.canvas import Box, Canvas
from label_renderer.content import LabelContent
from label_renderer.errors import RenderError
from label_renderer.fonts import FontName, font
from label_renderer.locales import PriceParts, format_money, message, price_parts, unit_name
from label_renderer.template import PriceElement, PriorPriceNoteElement, UnitPriceElement
from label_renderer.textfit import fit_text

_FLOOR = 8


@dataclass(frozen=True, slots=True)
class _Run:
    text: str
    font: ImageFont.FreeTypeFont
    dx: int  # from the composite's left edge
    baseline: int  # from the composite's top edge


@dataclass(frozen=True, slots=True)
class PriceLayout:
    runs: tuple[_Run, ...]
    width: int
    height: int
    strike_y: int  # where a strike line crosses, from the top
    strike_width: int


def _tight(face: ImageFont.FreeTypeFont, text: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the inked pixels relative to the baseline origin."""
    left, top, right, bottom = face.getbbox(text, anchor="ls")
    return int(left), int(top), int(right), int(bottom)


def _plain(text: str, face: ImageFont.FreeTypeFont) -> PriceLayout:
    _, top, right, bottom = _tight(face, text)
    digits_top = _tight(face, "0")[1]
    return PriceLayout(
        runs=(_Run(text, face, 0, -top),),
        width=right,
        height=bottom - top,
        strike_y=-top + digits_top // 2,
        strike_width=max(1, int(face.size) // 14),
    )


def _split(
    parts: PriceParts,
    big: ImageFont.FreeTypeFont,
    small: ImageFont.FreeTypeFont,
    font_name: FontName,
) -> PriceLayout:
    prefix = parts.whole[: len(parts.whole) - len(parts.whole.lstrip("$£€¥₺₼ \u00a0"))]
    whole = parts.whole[len(prefix) :]
    cap = -_tight(big, "0")[1]  # height of the large digits above the baseline
    small_cap = -_tight(small, "0")[1]
    _, whole_top, whole_right, whole_bottom = _tight(big, whole)
    runs: list[_Run] = []
    x = 0
    if prefix:
        runs.append(_Run(prefix.strip(), small, 0, small_cap))
        x = _tight(small, prefix.strip())[2] + 1
    top_of_text = min(0, cap + whole_top)  # a glyph taller than the digits pushes all down
    baseline = cap - top_of_text
    runs.insert(0, _Run(whole, big, x, baseline))
    gap = max(1, int(big.size) // 20)
    x += whole_right + gap
    column_width = 0
    if parts.decimals:
        decimals = parts.separator + parts.decimals if parts.separator == "." else parts.decimals
        runs.append(_Run(decimals, small, x, baseline - cap + small_cap))
        column_width = _tight(small, decimals)[2]
    suffix = parts.suffix.strip()
    if suffix:
        sign = _stacked_sign(suffix, small, font_name, room=cap - small_cap - gap)
        if sign is not None:  # under the decimals, on the baseline
            runs.append(_Run(suffix, sign, x, baseline))
            column_width = max(column_width, _tight(sign, suffix)[2])
        else:  # no room under large decimals: after them, at their height
            after = x + column_width + max(2, int(small.size) // 4)
            runs.append(_Run(suffix, small, after, baseline - cap + small_cap))
            column_width = after - x + _tight(small, suffix)[2]
    height = baseline + max(0, whole_bottom)
    return PriceLayout(
        runs=tuple(runs),
        width=x + column_width,
        height=height,
        strike_y=baseline - cap // 2,
        strike_width=max(1, int(big.size) // 14),
    )


def _stacked_sign(
    sign: str, small: ImageFont.FreeTypeFont, font_name: FontName, room: int
) -> ImageFont.FreeTypeFont | None:
    """The face for a currency sign stacked under the decimals: the decimals' own size, or
    smaller so the two never touch (large decimals leave little room), or None: not stacked."""
    for size in range(int(small.size), _FLOOR - 1, -1):
        face = small if size == small.size else font(font_name, size)
        _, top, _, bottom = _tight(face, sign)
        if bottom - top <= room:
            return face
    return None


@lru_cache(maxsize=16384)
def layout_price(
    parts: PriceParts,
    *,
    font_name: FontName,
    size: int,
    decimals_size: int | None,
    width: int,
    height: int,
) -> PriceLayout:
    """The largest layout of a price inside width x height (see the module docstring)."""
    for candidate in range(size, _FLOOR - 1, -1):
        big = font(font_name, candidate)
        if decimals_size is None:
            layout = _plain(parts.text, big)
        else:
            small_size = max(_FLOOR, round(decimals_size * candidate / size))
            layout = _split(parts, big, font(font_name, small_size), font_name)
        if layout.width <= width and layout.height <= height:
            return layout
    raise RenderError(f"the price {parts.text!r} does not fit {width}x{height} even at {_FLOOR} px")


def draw_price_layout(
    canvas: Canvas,
    layout: PriceLayout,
    box: Box,
    *,
    colour: str,
    align: str,
    valign: str,
    strike: bool,
) -> Box:
    if align == "center":
        left = box.x + (box.w - layout.width) // 2
    elif align == "right":
        left = box.right - layout.width
    else:
        left = box.x
    if valign == "top":
        top = box.y
    elif valign == "bottom":
        top = box.bottom - layout.height
    else:
        top = box.y + (box.h - layout.height) // 2
    ink = canvas.ink(colour)
    for run in layout.runs:
        canvas.draw.text(
            (left + run.dx, top + run.baseline), run.text, font=run.font, fill=ink, anchor="ls"
        )
    if strike:
        y = top + layout.strike_y
        canvas.draw.line(
            [(left - 1, y), (left + layout.width, y)],
            fill=canvas.ink("black"),
            width=layout.strike_width,
        )
    return Box(left, top, layout.width, layout.height)


def draw_price(canvas: Canvas, element: PriceElement, content: LabelContent) -> Box | None:
    money = content.price if element.field == "price" else content.prior_price
    if money is None:
        return None
    parts = price_parts(money, content.locale)
    layout = layout_price(
        parts,
        font_name=element.font,
        size=element.size,
        decimals_size=element.decimals_size,
        width=element.w,
        height=element.h,
    )
    box = Box(element.x, element.y, element.w, element.h)
    return draw_price_layout(
        canvas,
        layout,
        box,
        colour=element.colour,
        align=element.align,
        valign=element.valign,
        strike=element.strike,
    )


def _draw_legal_line(
    canvas: Canvas,
    element: PriorPriceNoteElement | UnitPriceElement,
    texts: tuple[str, ...],
    max_lines: int,
) -> Box:
    """Legal text is never cut: the first wording that fits whole wins, else it is an error."""
    for text in texts:
        layout = fit_text(
            text,
            font_name=element.font,
            size=element.size,
            min_size=element.min_size or element.size,
            max_lines=max_lines,
            width=element.w,
            height=element.h,
        )
        if not layout.truncated:
            box = Box(element.x, element.y, element.w, element.h)
            return canvas.text_block(
                layout, box, colour=element.colour, align=element.align, valign=element.valign
            )
    raise RenderError(
        f"{texts[-1]!r} does not fit {element.w}x{element.h} at {element.min_size} px",
        element=element.id or element.type,
    )


def draw_prior_price_note(
    canvas: Canvas, element: PriorPriceNoteElement, content: LabelContent
) -> Box | None:
    if content.prior_price is None:
        return None
    price = format_money(content.prior_price, content.locale)
    text = message(content.locale, "prior_price", price=price)
    return _draw_legal_line(canvas, element, (text,), element.max_lines)


def draw_unit_price(canvas: Canvas, element: UnitPriceElement, content: LabelContent) -> Box | None:
    unit = content.unit_price
    if unit is None:
        return None
    price = format_money(unit.price, content.locale)
    per = unit_name(content.locale, unit.per)
    bare = f"{price}/{per}"
    labelled = message(content.locale, "unit_price", price=price, unit=per)
    texts = (labelled, bare) if element.label else (bare,)
    return _draw_legal_line(canvas, element, texts, 1)
