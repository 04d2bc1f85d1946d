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


def _placed(runs: list[_Run], strike_y: int, strike_width: int) -> PriceLayout:
    """Runs placed around the large digits' baseline (y 0), moved so that the ink of all of them
    starts at (0, 0): a "$" taller than the digits or a "1" with a wide left bearing can then
    neither poke out of the element's box nor leave a gap at its edge."""
    inked = [(run, _tight(run.font, run.text)) for run in runs]
    left = min(run.dx + box[0] for run, box in inked)
    top = min(run.baseline + box[1] for run, box in inked)
    right = max(run.dx + box[2] for run, box in inked)
    bottom = max(run.baseline + box[3] for run, box in inked)
    return PriceLayout(
        runs=tuple(_Run(r.text, r.font, r.dx - left, r.baseline - top) for r in runs),
        width=right - left,
        height=bottom - top,
        strike_y=strike_y - top,
        strike_width=strike_width,
    )


def _plain(text: str, face: ImageFont.FreeTypeFont) -> PriceLayout:
    digits_top = _tight(face, "0")[1]
    return _placed([_Run(text, face, 0, 0)], digits_top // 2, max(1, int(face.size) // 14))


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
    raised = small_cap - cap  # the baseline of small text whose top is level with the digits'
    runs: list[_Run] = []
    x = 0
    if prefix:
        runs.append(_Run(prefix.strip(), small, 0, raised))
        x = _tight(small, prefix.strip())[2] + 1
    runs.append(_Run(whole, big, x, 0))
    gap = max(1, int(big.size) // 20)
    x += _tight(big, whole)[2] + gap
    column_width = 0
    if parts.decimals:
        decimals = parts.separator + parts.decimals if parts.separator == "." else parts.decimals
        runs.append(_Run(decimals, small, x, raised))
        column_width = _tight(small, decimals)[2]
    suffix = parts.suffix.strip()
    if suffix:
        sign = _stacked_sign(suffix, small, font_name, room=cap - small_cap - gap)
        if sign is not None:  # under the decimals, on the baseline
            runs.append(_Run(suffix, sign, x, 0))
        else:  # no room under large decimals: after them, at their height
            runs.append(
                _Run(suffix, small, x + column_width + max(2, int(small.size) // 4), raised)
            )
    return _placed(runs, -(cap // 2), max(1, int(big.size) // 14))


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
    left = box.place_x(layout.width, align)
    top = box.place_y(layout.height, valign)
    ink = canvas.ink(colour)
    for run in layout.runs:
        canvas.draw.text(
            (left + run.dx, top + run.baseline), run.text, font=run.font, fill=ink, anchor="ls"
        )
    drawn = Box(left, top, layout.width, layout.height)
    if strike:
        # A pixel past the digits on each side where the box has room, never outside it.
        x0, x1 = max(box.x, left - 1), min(box.right - 1, left + layout.width)
        y = top + layout.strike_y
        canvas.draw.line([(x0, y), (x1, y)], fill=canvas.ink("black"), width=layout.strike_width)
        drawn = Box(min(left, x0), top, max(drawn.right, x1 + 1) - min(left, x0), layout.height)
    return drawn


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
