"""Locale-aware text on a label: prices through Babel, and the label's fixed phrases.

Prices follow CLDR through Babel, with one deliberate exception: CLDR's Turkish pattern puts the
lira sign first ("₺1.299,90"), while Turkish shelves, receipts and the issue that asked for this
write it after the amount ("1.299,90 ₺"). The override is a pattern, so grouping and decimals
still come from CLDR.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal, get_decimal_symbol

from label_renderer.content import Money, StockBadge, Unit
from label_renderer.errors import ContentError

SUPPORTED_LOCALES = ("tr-TR", "az-AZ", "en-US")

_CURRENCY_PATTERNS = {"tr": "#,##0.00\u00a0¤"}

_MESSAGES: dict[str, dict[str, str]] = {
    "tr": {
        "prior_price": "Son 30 günün en düşük fiyatı: {price}",
        "unit_price": "Birim fiyat: {price}/{unit}",
        "promotion": "İNDİRİM",
        "clearance": "SON FIRSAT",
        "promo_ends": "Son gün: {date}",
        "origin": "Menşei: {origin}",
        "reviews": "Yorumlar için okutun",
        "stock.low": "Son ürünler",
        "stock.out": "Tükendi",
        "stock.online": "Online'da var",
        "stock.pickup": "Mağazadan teslim al",
        "unit.kg": "kg",
        "unit.l": "lt",
        "unit.m": "m",
        "unit.piece": "adet",
    },
    "az": {
        "prior_price": "Son 30 günün ən aşağı qiyməti: {price}",
        "unit_price": "Vahid qiyməti: {price}/{unit}",
        "promotion": "ENDİRİM",
        "clearance": "SON İMKAN",
        "promo_ends": "Son gün: {date}",
        "origin": "Mənşə: {origin}",
        "reviews": "Rəylər üçün skan edin",
        "stock.low": "Az qalıb",
        "stock.out": "Bitib",
        "stock.online": "Onlayn mövcuddur",
        "stock.pickup": "Mağazadan götürün",
        "unit.kg": "kq",
        "unit.l": "l",
        "unit.m": "m",
        "unit.piece": "ədəd",
    },
    "en": {
        "prior_price": "Lowest price in last 30 days: {price}",
        "unit_price": "Unit price: {price}/{unit}",
        "promotion": "SALE",
        "clearance": "CLEARANCE",
        "promo_ends": "Ends {date}",
        "origin": "Origin: {origin}",
        "reviews": "Scan for reviews",
        "stock.low": "Low stock",
        "stock.out": "Out of stock",
        "stock.online": "Available online",
        "stock.pickup": "Pick up in store",
        "unit.kg": "kg",
        "unit.l": "l",
        "unit.m": "m",
        "unit.piece": "each",
    },
}


@dataclass(frozen=True, slots=True)
class PriceParts:
    """A formatted price cut where a label sets the decimals small: "1.299" "," "90" " ₺"."""

    whole: str  # everything up to the decimal separator, with a leading currency sign
    separator: str
    decimals: str
    suffix: str  # a trailing currency sign and its space, or ""

    @property
    def text(self) -> str:
        sep = self.separator if self.decimals else ""
        return f"{self.whole}{sep}{self.decimals}{self.suffix}"


@lru_cache(maxsize=64)
def babel_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError) as exc:
        raise ContentError(f"unknown locale {tag!r}") from exc


def message(tag: str, key: str, **values: str) -> str:
    """A fixed label phrase in the locale's language (English when the language is unknown)."""
    phrases = _MESSAGES.get(babel_locale(tag).language, _MESSAGES["en"])
    return phrases[key].format(**values)


@lru_cache(maxsize=4096)
def _format_money(amount: Decimal, currency: str, tag: str) -> str:
    locale = babel_locale(tag)
    pattern = _CURRENCY_PATTERNS.get(locale.language)
    try:
        return format_currency(amount, currency, format=pattern, locale=locale)
    except Exception as exc:  # Babel raises several types for a bad currency code
        raise ContentError(f"cannot format {amount} {currency!r} in {tag}: {exc}") from exc


def format_money(money: Money, tag: str) -> str:
    """ "1.299,90 ₺", "12,50 ₼", "$1,299.90"."""
    return _format_money(money.amount, money.currency, tag)


@lru_cache(maxsize=4096)
def _price_parts(amount: Decimal, currency: str, tag: str) -> PriceParts:
    text = _format_money(amount, currency, tag)
    separator = get_decimal_symbol(babel_locale(tag))
    cut = text.rfind(separator)
    if cut < 0:  # a currency without minor units (JPY) has no decimals to set small
        digits_end = max(i for i, ch in enumerate(text) if ch.isdigit()) + 1
        return PriceParts(text[:digits_end], separator, "", text[digits_end:])
    end = cut + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    return PriceParts(text[:cut], separator, text[cut + 1 : end], text[end:])


def price_parts(money: Money, tag: str) -> PriceParts:
    return _price_parts(money.amount, money.currency, tag)


def unit_name(tag: str, unit: Unit) -> str:
    return message(tag, f"unit.{unit.value}")


def stock_text(tag: str, badge: StockBadge) -> str:
    return message(tag, f"stock.{badge.value}")


def format_count(count: int, tag: str) -> str:
    return format_decimal(count, locale=babel_locale(tag))
