"""Stock states with hysteresis: low, out and restocked do not flicker around their thresholds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.shelves.events import LowStock, OutOfStock, Restocked
from controller.shelves.stock import StockRules, StockState, initial_state, next_state
from tests.support.shelf_feed import started

RULES = StockRules(low_stock=3, hysteresis=2)


def walk(counts: list[int], state: StockState = StockState.IN_STOCK) -> list[StockState]:
    states = []
    for count in counts:
        state = next_state(state, count, RULES)
        states.append(state)
    return states


def test_low_is_entered_at_the_level_and_left_only_above_it_plus_hysteresis() -> None:
    """3 is low; 4 keeps it low; only 5 (3 + 2) is in stock again."""
    assert walk([4, 3, 4, 3, 4, 5]) == [
        StockState.IN_STOCK,
        StockState.LOW,
        StockState.LOW,
        StockState.LOW,
        StockState.LOW,
        StockState.IN_STOCK,
    ]


def test_out_is_left_only_with_two_units() -> None:
    """One unit put back on an empty lane keeps it out of stock; a second makes it low."""
    assert walk([0, 1, 0, 1, 2], StockState.LOW) == [
        StockState.OUT,
        StockState.OUT,
        StockState.OUT,
        StockState.OUT,
        StockState.LOW,
    ]
    assert next_state(StockState.OUT, 5, RULES) is StockState.IN_STOCK


def test_the_first_count_sets_the_state_without_hysteresis() -> None:
    """At boot 4 is in stock, 3 low and 0 out."""
    assert initial_state(4, RULES) is StockState.IN_STOCK
    assert initial_state(3, RULES) is StockState.LOW
    assert initial_state(0, RULES) is StockState.OUT


@given(st.lists(st.integers(3, 4), min_size=1, max_size=50))
def test_counts_between_the_thresholds_never_change_the_state(counts: list[int]) -> None:
    """Once low, any sequence of counts between low and low + hysteresis - 1 stays low."""
    assert set(walk(counts, StockState.LOW)) == {StockState.LOW}


def test_the_lane_raises_each_alert_once_around_the_threshold() -> None:
    """A lane sold down to its low level, then a unit put back and taken again twice: one
    LowStock; emptied: one OutOfStock; one unit back: nothing; restocked: one Restocked."""
    scale = started(500.0, 5)
    for count in (4, 3, 4, 3, 4, 3, 0, 1, 0, 1, 6):
        scale.run(45, count * 500.0)
    low = [e for e in scale.events if isinstance(e, LowStock)]
    out = [e for e in scale.events if isinstance(e, OutOfStock)]
    back = [e for e in scale.events if isinstance(e, Restocked)]
    assert [e.count for e in low] == [3]
    assert len(out) == 1
    assert [(e.count, e.state) for e in back] == [(6, StockState.IN_STOCK)]
