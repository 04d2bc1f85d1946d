"""The legal price figures: the Omnibus prior price and the unit price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.catalog.items import NetQuantity, QuantityUnit, SoldBy
from controller.catalog.pricing import (
    AppliedPrice,
    history_intervals,
    omnibus_prior_price,
    unit_price,
)
from label_renderer.content import Unit

START = datetime(2026, 11, 20, tzinfo=UTC)


def day(offset: int) -> datetime:
    return START + timedelta(days=offset)


D = Decimal  # short for the many literals below


def test_prior_price_is_lowest_of_the_30_days_before_the_start():
    """Three prices in the window: the lowest one is the prior price."""
    history = history_intervals(
        [(D("12.00"), day(-60), None), (D("10.50"), day(-20), None), (D("11.00"), day(-5), None)]
    )
    assert omnibus_prior_price(history, START, D("11.00")) == D("10.50")


def test_price_older_than_30_days_does_not_count():
    """A low price that ended 31 days before the start is outside the window."""
    history = [
        AppliedPrice(D("5.00"), day(-90), day(-31)),
        AppliedPrice(D("9.00"), day(-31), None),
    ]
    assert omnibus_prior_price(history, START, D("9.00")) == D("9.00")


def test_price_that_overlaps_the_window_start_counts():
    """A price that began before the window and still applied inside it counts."""
    history = [AppliedPrice(D("7.00"), day(-45), day(-29)), AppliedPrice(D("9.00"), day(-29))]
    assert omnibus_prior_price(history, START, D("9.00")) == D("7.00")


def test_price_ending_exactly_at_window_start_does_not_count():
    """[start, end): a price that ended at the window's first instant never applied in it."""
    history = [AppliedPrice(D("7.00"), day(-45), day(-30)), AppliedPrice(D("9.00"), day(-30))]
    assert omnibus_prior_price(history, START, D("9.00")) == D("9.00")


def test_the_promotion_itself_is_excluded():
    """The promotion's own price, applied from its start, never becomes its prior price."""
    history = history_intervals([(D("20.00"), day(-40), None), (D("14.99"), START, None)])
    assert omnibus_prior_price(history, START, D("20.00")) == D("20.00")


def test_a_later_price_is_excluded():
    """Prices after the promotion start (a later change) do not count."""
    history = history_intervals([(D("20.00"), day(-40), None), (D("3.00"), day(2), None)])
    assert omnibus_prior_price(history, START, D("20.00")) == D("20.00")


def test_an_earlier_promotion_in_the_window_counts():
    """A reduction applied 10 days earlier is a price applied in the window (Art. 6a)."""
    history = history_intervals(
        [(D("20.00"), day(-40), None), (D("15.00"), day(-12), None), (D("20.00"), day(-8), None)]
    )
    assert omnibus_prior_price(history, START, D("20.00")) == D("15.00")


def test_history_gap_contributes_nothing():
    """Not on sale for two weeks: only the prices around the gap count."""
    history = [
        AppliedPrice(D("8.20"), day(-100), day(-25)),
        AppliedPrice(D("8.50"), day(-10), None),
    ]
    assert omnibus_prior_price(history, START, D("8.50")) == D("8.20")


def test_gap_covering_the_whole_window_falls_back_to_regular_price():
    """No price applied in the window at all: the regular price is the reference."""
    history = [AppliedPrice(D("3.00"), day(-200), day(-100))]
    assert omnibus_prior_price(history, START, D("9.90")) == D("9.90")


def test_no_history_uses_the_regular_price():
    """An item with no recorded history: its regular price is the prior price."""
    assert omnibus_prior_price([], START, D("129.90")) == D("129.90")


def test_open_end_is_closed_by_the_next_point():
    """history_intervals: an open-ended point lasts until the next one starts."""
    intervals = history_intervals([(D("2"), day(-5), None), (D("1"), day(-50), None)])
    assert intervals == [
        AppliedPrice(D("1"), day(-50), day(-5)),
        AppliedPrice(D("2"), day(-5), None),
    ]


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=1, max_value=1000, places=2),
            st.integers(min_value=-120, max_value=10),
            st.integers(min_value=1, max_value=60),
        ),
        max_size=12,
    )
)
def test_prior_price_matches_a_day_by_day_reading(entries):
    """Hypothesis: the result equals the minimum over every hour of the window that had a price."""
    history = [
        AppliedPrice(price, day(start), day(start + length)) for price, start, length in entries
    ]
    regular = Decimal("500.00")
    seen = []
    moment = START - timedelta(days=30)
    while moment < START:
        seen += [h.price for h in history if h.start <= moment < (h.end or START)]
        moment += timedelta(hours=1)
    expected = min(seen) if seen else regular
    assert omnibus_prior_price(history, START, regular) == expected


@pytest.mark.parametrize(
    ("price", "quantity", "unit", "expected"),
    [
        ("189.90", "500", QuantityUnit.G, ("379.80", Unit.KG)),
        ("99.90", "216", QuantityUnit.G, ("462.50", Unit.KG)),
        ("1.20", "1.5", QuantityUnit.L, ("0.80", Unit.LITRE)),
        ("12.49", "750", QuantityUnit.ML, ("16.65", Unit.LITRE)),
        ("4.00", "250", QuantityUnit.CM, ("1.60", Unit.METRE)),
        ("5.00", "2", QuantityUnit.KG, ("2.50", Unit.KG)),
        ("9.00", "6", QuantityUnit.PIECE, ("1.50", Unit.PIECE)),
    ],
)
def test_unit_price_from_net_quantity(price, quantity, unit, expected):
    """Price per kg / l / m / piece from the net quantity, rounded half up to cents."""
    result = unit_price(D(price), SoldBy.ITEM, NetQuantity(value=D(quantity), unit=unit))
    assert result == (D(expected[0]), expected[1])


def test_unit_price_of_goods_sold_by_weight_is_their_price():
    """Loose tomatoes at 49.90 per kg: the unit price is 49.90 per kg."""
    assert unit_price(D("49.90"), SoldBy.KG, None) == (D("49.90"), Unit.KG)


def test_no_unit_price_without_quantity_or_for_a_single_piece():
    """Nothing to compute: no net quantity, or one piece."""
    assert unit_price(D("15"), SoldBy.ITEM, None) is None
    one = NetQuantity(value=D(1), unit=QuantityUnit.PIECE)
    assert unit_price(D("15"), SoldBy.ITEM, one) is None
