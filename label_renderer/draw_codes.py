"""Machine-readable codes: the QR code (segno) and the EAN-13 barcode (python-barcode).

Both are drawn in whole pixels per module and never scaled afterwards, with their quiet zones
kept white inside the element's box, because a code that scans on screen but not on the shelf is
worse than none. The QR matrix and the scaled bitmap are cached per URL: generating a QR costs
~7 ms, pasting a cached one a few microseconds.
"""

from __future__ import annotations

from functools import lru_cache

import barcode
import segno
from PIL import Image

from label_renderer.canvas import Box, Canvas
from label_renderer.content import LabelContent
from label_renderer.errors import RenderError
from label_renderer.fonts import font
from label_renderer.gtin import gtin13
from label_renderer.template import BarcodeElement, QrElement

EAN_MODULES = 95
EAN_QUIET_LEFT, EAN_QUIET_RIGHT = 11, 7  # GS1 General Specifications, 5.2.3.4
_GUARDS = (range(3), range(45, 50), range(92, 95))


# A worker keeps every QR matrix of its share of a large store (~0.8 KB each): regenerating one
# costs ~3 ms, rebuilding its mask from the matrix ~25 µs.
@lru_cache(maxsize=32768)
def qr_matrix(url: str, ecc: str) -> tuple[bytes, int]:
    """The QR code's dark modules as one byte per module (255 dark), and its side in modules."""
    code = segno.make(url, error=ecc.lower(), boost_error=False, micro=False)
    side = len(code.matrix)
    return b"".join(bytes(255 if m else 0 for m in row) for row in code.matrix), side


@lru_cache(maxsize=4096)
def _qr_mask(url: str, ecc: str, module: int) -> Image.Image:
    modules, side = qr_matrix(url, ecc)
    small = Image.frombytes("L", (side, side), modules)
    return small.resize((side * module, side * module), Image.Resampling.NEAREST).convert("1")


def draw_qr(canvas: Canvas, element: QrElement, content: LabelContent) -> Box | None:
    if not content.qr_url:
        return None
    _, side = qr_matrix(content.qr_url, element.ecc)
    module = min(element.w, element.h) // (side + 2 * element.border)
    if module < 1:
        raise RenderError(
            f"a {side}x{side} QR code does not fit {element.w}x{element.h}; shorten the URL",
            element=element.id or "qr",
        )
    full = (side + 2 * element.border) * module
    left = Box(element.x, element.y, element.w, element.h).place_x(full, element.align)
    top = Box(element.x, element.y, element.w, element.h).place_y(full)
    canvas.draw.rectangle([left, top, left + full - 1, top + full - 1], fill=canvas.ink("white"))
    offset = element.border * module
    canvas.image.paste(
        canvas.ink(element.colour),
        (left + offset, top + offset),
        _qr_mask(content.qr_url, element.ecc, module),
    )
    return Box(left, top, full, full)


@lru_cache(maxsize=4096)
def ean13_bars(gtin: str) -> tuple[tuple[int, int], ...]:
    """The dark bars of an EAN-13 as (first module, module count) runs."""
    pattern = barcode.EAN13(gtin[:12]).build()[0]
    runs: list[tuple[int, int]] = []
    start = None
    for index, bit in enumerate(pattern + "0"):
        if bit == "1" and start is None:
            start = index
        elif bit == "0" and start is not None:
            runs.append((start, index - start))
            start = None
    return tuple(runs)


def draw_barcode(canvas: Canvas, element: BarcodeElement, content: LabelContent) -> Box | None:
    if not content.gtin:
        return None
    digits = gtin13(content.gtin)
    module = element.w // (EAN_QUIET_LEFT + EAN_MODULES + EAN_QUIET_RIGHT)
    if module < 1:
        raise RenderError(
            f"an EAN-13 needs {EAN_QUIET_LEFT + EAN_MODULES + EAN_QUIET_RIGHT} px,"
            f" the box is {element.w}",
            element=element.id or "barcode",
        )
    full = (EAN_QUIET_LEFT + EAN_MODULES + EAN_QUIET_RIGHT) * module
    left = Box(element.x, element.y, element.w, element.h).place_x(full, element.align)
    face = font("regular", element.digits_size)
    digit_h = -int(face.getbbox("0", anchor="ls")[1]) if element.digits else 0
    bars_h = element.h - (digit_h + 2 if element.digits else 0)
    if bars_h < 10:
        raise RenderError(
            f"the barcode box is too low ({element.h} px)", element=element.id or "barcode"
        )
    canvas.draw.rectangle(
        [left, element.y, left + full - 1, element.y + element.h - 1], fill=canvas.ink("white")
    )
    ink = canvas.ink("black")  # bars are black on every palette: scanners see red as white
    bars_left = left + EAN_QUIET_LEFT * module
    guard_extra = digit_h // 2 if element.digits else 0
    for start, count in ean13_bars(digits):
        is_guard = any(start in guard for guard in _GUARDS)
        bottom = element.y + bars_h - 1 + (guard_extra if is_guard else 0)
        x0 = bars_left + start * module
        canvas.draw.rectangle([x0, element.y, x0 + count * module - 1, bottom], fill=ink)
    if element.digits:
        baseline = element.y + element.h - 1
        canvas.draw.text((bars_left - 2, baseline), digits[0], font=face, fill=ink, anchor="rs")
        for text, first, last in ((digits[1:7], 3, 45), (digits[7:], 50, 92)):
            centre = bars_left + (first + last) * module // 2
            canvas.draw.text((centre, baseline), text, font=face, fill=ink, anchor="ms")
    return Box(left, element.y, full, element.h)
