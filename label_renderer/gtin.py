"""GTIN check digits (GS1 General Specifications, 7.9): shared by the barcode and the catalog."""

from __future__ import annotations

from label_renderer.errors import ContentError


def check_digit(first12: str) -> int:
    """The GTIN-13 check digit of its first twelve digits."""
    odd = sum(int(d) for d in first12[0::2])
    even = sum(int(d) for d in first12[1::2])
    return (10 - (odd + 3 * even) % 10) % 10


def gtin13(gtin: str) -> str:
    """A GTIN-13 (or GTIN-12, zero-padded) with its check digit verified."""
    digits = gtin.strip()
    if len(digits) == 12:
        digits = "0" + digits
    if len(digits) != 13 or not digits.isdigit():
        raise ContentError(f"GTIN {gtin!r} must be 12 or 13 digits")
    check = check_digit(digits[:12])
    if check != int(digits[12]):
        raise ContentError(f"GTIN {gtin!r} has check digit {digits[12]}, expected {check}")
    return digits
