"""Content rules: localized prices, the computed reduction, the promo badge, GTIN check digits."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from label_renderer import ContentError, LabelContent, Money, PriceKind
from label_renderer.draw_badges import promo_badge_text
from label_renderer.draw_codes import gtin13
from label_renderer.locales import PriceParts, format_money, price_parts
from label_renderer.samples import sample_content

NBSP = "\u00a0"  # what CLDR puts between an amount and a trailing currency sign


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("1299.90", "TRY", "tr-TR", f"1.299,90{NBSP}₺"),
        ("12.50", "AZN", "az-AZ", f"12,50{NBSP}₼"),
        ("1299.90", "USD", "en-US", "$1,299.90"),
        ("0.5", "TRY", "tr-TR", f"0,50{NBSP}₺"),
        ("1234567.8", "AZN", "az-AZ", f"1.234.567,80{NBSP}₼"),
    ],
)
def test_format_money_per_locale(amount: str, currency: str, locale: str, expected: str) -> None:
    """Turkish puts ₺ after the amount with a no-break space; az uses ₼ likewise; en-US $ first."""
    assert format_money(Money(Decimal(amount), currency), locale) == expected


@pytest.mark.parametrize(
    ("money", "locale", "parts"),
    [
        (Money(Decimal("1299.90"), "TRY"), "tr-TR", PriceParts("1.299", ",", "90", f"{NBSP}₺")),
        (Money(Decimal("12.50"), "AZN"), "az-AZ", PriceParts("12", ",", "50", f"{NBSP}₼")),
        (Money(Decimal("1299.90"), "USD"), "en-US", PriceParts("$1,299", ".", "90", "")),
        (Money(Decimal("1000"), "JPY"), "en-US", PriceParts("¥1,000", ".", "", "")),
    ],
)
def test_price_parts_split_whole_decimals_and_sign(
    money: Money, locale: str, parts: PriceParts
) -> None:
    """price_parts cuts at the decimal separator; joined again it is the formatted price."""
    assert price_parts(money, locale) == parts
    assert parts.text == format_money(money, locale)


def _promo(price: str, prior: str | None, locale: str = "tr-TR") -> LabelContent:
    return replace(
        sample_content(locale, "promotion"),
        price=Money(Decimal(price), "TRY"),
        prior_price=Money(Decimal(prior), "TRY") if prior is not None else None,
    )


@pytest.mark.parametrize(
    ("price", "prior", "percent"),
    [
        ("80.00", "100.00", 20),
        ("99.90", "129.90", 23),  # 23.09...
        ("66.67", "100.00", 33),  # 33.33
        ("0.99", "1.98", 50),
        ("19.99", "20.00", 0),  # 0.05 %: a reduction too small to claim a whole percent
        ("100.00", "100.00", None),  # no reduction
        ("120.00", "100.00", None),  # a price rise is never a "discount"
    ],
)
def test_discount_percent_rounds_down_from_the_prior_price(
    price: str, prior: str, percent: int | None
) -> None:
    """The reduction is (prior - price) / prior in whole percent, rounded down."""
    assert _promo(price, prior).discount_percent == percent


def test_discount_percent_needs_a_reduced_kind_and_a_prior_price() -> None:
    """A normal price or a promotion without a prior price claims no percentage."""
    assert _promo("80.00", None).discount_percent is None
    assert replace(_promo("80.00", "100.00"), kind=PriceKind.NORMAL).discount_percent is None


@settings(max_examples=200, deadline=None)
@given(prior=st.integers(1, 10_000_000), price=st.integers(0, 10_000_000))
def test_discount_percent_is_the_floor_of_the_exact_ratio(prior: int, price: int) -> None:
    """For any prices in cents the percentage is floor(100 * (prior - price) / prior)."""
    content = _promo(str(Decimal(price) / 100), str(Decimal(prior) / 100))
    if price >= prior:
        assert content.discount_percent is None
    else:
        assert content.discount_percent == int(Fraction(100 * (prior - price), prior))


@pytest.mark.parametrize(
    ("locale", "badge"), [("tr-TR", "-%20"), ("az-AZ", "-20%"), ("en-US", "-20%")]
)
def test_promo_badge_shows_the_computed_percentage(locale: str, badge: str) -> None:
    """The badge shows the reduction computed from the prices, even if promo_text says else."""
    content = replace(_promo("80.00", "100.00", locale), promo_text="-50% only today")
    assert promo_badge_text(content) == badge


def test_promo_badge_without_prior_price_falls_back_to_text_then_phrase() -> None:
    """No prior price: the promo text, else the locale's word for the kind; normal: no badge."""
    bare = _promo("80.00", None)
    assert promo_badge_text(replace(bare, promo_text="2 al 1 öde")) == "2 al 1 öde"
    assert promo_badge_text(replace(bare, promo_text=None)) == "İNDİRİM"
    clearance = replace(bare, promo_text=None, kind=PriceKind.CLEARANCE, locale="en-US")
    assert promo_badge_text(clearance) == "CLEARANCE"
    assert promo_badge_text(replace(bare, kind=PriceKind.NORMAL)) is None


def test_gtin13_accepts_valid_codes_and_pads_gtin12() -> None:
    """A valid GTIN-13 comes back as is; a GTIN-12 (UPC-A) gets its leading zero."""
    assert gtin13("8690504012344") == "8690504012344"
    assert gtin13("036000291452") == "0036000291452"


@pytest.mark.parametrize(
    ("gtin", "message"),
    [
        ("8690504012345", "check digit 5, expected 4"),
        ("869050401234", "check digit 4, expected 2"),  # read as GTIN-12: 0869050401234
        ("86905040123", "must be 12 or 13 digits"),
        ("86905040123445", "must be 12 or 13 digits"),
        ("86905040123a4", "must be 12 or 13 digits"),
    ],
)
def test_gtin13_errors_name_the_code_and_the_problem(gtin: str, message: str) -> None:
    """A wrong length, a letter or a wrong check digit raises ContentError saying which."""
    with pytest.raises(ContentError) as caught:
        gtin13(gtin)
    assert repr(gtin) in str(caught.value)
    assert message in str(caught.value)
