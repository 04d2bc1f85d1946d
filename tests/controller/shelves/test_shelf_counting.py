"""The lane pipeline: what is a sale and what is not, misplaced products, drift, bad samples."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.shelves.calibration import Known, UnitSource
from controller.shelves.errors import BadSample, Rejection
from controller.shelves.events import (
    CalibrationChanged,
    CountConfirmed,
    InitialCount,
    Misplaced,
    MisplacedCleared,
    OutOfStock,
    SampleRejected,
    StockCounted,
    Uncertain,
)
from tests.support.shelf_feed import Scale, changes, make_lane, started


def counted(events: list[object]) -> list[int]:
    return [e.units for e in events if isinstance(e, StockCounted)]


def test_first_level_is_read_against_the_persisted_tare() -> None:
    """At boot the first stable level counts as whole units over the stored tare, not as zero."""
    scale = Scale(make_lane(250.0, tare_g=1200.0))
    events = scale.run(60, 1200.0 + 7 * 250.0)
    (first,) = [e for e in events if isinstance(e, InitialCount)]
    assert first.count == 7
    assert scale.lane.count == 7
    assert scale.lane.calibration.tare_g == 1200.0  # never tared automatically


@pytest.mark.parametrize("units", [1, 2, 3, 5])
def test_n_units_removed_count_n(units: int) -> None:
    """A step down of n units, held, is one StockCounted of -n and the count drops by n."""
    scale = started(500.0, 10)
    events = scale.run(60, (10 - units) * 500.0)
    assert counted(events) == [-units]
    assert scale.lane.count == 10 - units


def test_a_hand_resting_on_the_shelf_is_no_change() -> None:
    """800 g of a trembling hand for 8 s, then gone: no change of any kind, the count stays."""
    scale = started(500.0, 10)
    jitter = [0, 25, -30, 40, -10, 35, -25, 15]
    scale.run(8, lambda s: 5000.0 + 800.0 + jitter[int(s) % len(jitter)])
    events = scale.run(120, 5000.0)
    assert changes(scale.events) == []
    assert events == []
    assert scale.lane.count == 10


def test_a_still_hand_shorter_than_the_commit_time_is_no_change() -> None:
    """Even a hand held perfectly still (stable to the scale) for 20 s never becomes a level."""
    scale = started(500.0, 10)
    scale.run(20, 5000.0 + 600.0)
    scale.run(120, 5000.0)
    assert changes(scale.events) == []
    assert scale.lane.count == 10


def test_a_product_picked_up_and_put_back_is_no_sale() -> None:
    """One unit lifted for 20 s and put back: nothing is counted."""
    scale = started(500.0, 10)
    scale.run(2, 5000.0 + 300.0)  # the hand pushes while taking
    scale.run(20, 4500.0)
    scale.run(2, 5000.0 + 200.0)
    scale.run(120, 5000.0)
    assert changes(scale.events) == []
    assert scale.lane.count == 10


def test_a_product_held_longer_than_the_commit_time_is_a_sale_then_a_put_back() -> None:
    """Held for 2 minutes, the lift counts (-1) and the return too (+1): the count ends right."""
    scale = started(500.0, 10)
    scale.run(120, 4500.0)
    scale.run(120, 5000.0)
    assert counted(scale.events) == [-1, 1]
    assert scale.lane.count == 10


def test_a_misplaced_product_is_misplaced_not_a_stock_change() -> None:
    """330 g left on a 500 g lane is Misplaced and the count stays; when staff take it away the
    weight is cleared, still without a count change; a sale after that counts normally."""
    scale = started(500.0, 10)
    events = scale.run(60, 5000.0 + 330.0)
    (misplaced,) = changes(events)
    assert isinstance(misplaced, Misplaced)
    assert misplaced.grams == pytest.approx(330.0, abs=5.0)
    assert scale.lane.count == 10
    assert scale.lane.unexplained_g == pytest.approx(330.0, abs=5.0)
    events = scale.run(60, 5000.0)
    assert [type(e) for e in events] == [MisplacedCleared]
    assert scale.lane.count == 10
    events = scale.run(60, 4500.0)
    assert counted(events) == [-1]


def test_a_sale_while_a_product_is_misplaced_still_counts() -> None:
    """With a foreign product on the lane, a later whole-unit change is still counted."""
    scale = started(500.0, 10)
    scale.run(60, 5000.0 + 330.0)
    events = scale.run(60, 4000.0 + 330.0)
    assert counted(events) == [-2]
    assert scale.lane.count == 8


def test_a_decrease_of_no_whole_number_is_uncertain() -> None:
    """A lane that loses 1.4 units' weight gets Uncertain for staff, never a count change."""
    scale = started(500.0, 10)
    events = scale.run(60, 5000.0 - 700.0)
    (uncertain,) = changes(events)
    assert isinstance(uncertain, Uncertain)
    assert uncertain.reason == "no whole number of units"
    assert scale.lane.count == 10


def test_out_of_stock_only_when_the_weight_agrees() -> None:
    """A count that reaches 0 on a lane still weighing 3 units raises Uncertain, not OutOfStock;
    a lane that really is empty raises OutOfStock."""
    scale = started(500.0, 4)
    scale.lane.confirm(scale.t, 1)  # a wrong count from staff, too far off to be a shopper
    scale.run(10, 2000.0)
    events = scale.run(60, 1500.0)
    assert not [e for e in events if isinstance(e, OutOfStock)]
    assert [e.reason for e in events if isinstance(e, Uncertain)] == [
        "counted empty, but it weighs more"
    ]
    scale = started(500.0, 3)
    events = scale.run(60, 0.0)
    assert counted(events) == [-3]
    assert [type(e) for e in events if isinstance(e, OutOfStock)] == [OutOfStock]
    assert scale.lane.known is Known.EMPTY


def test_drift_is_corrected_when_stable_and_known_empty() -> None:
    """An empty lane (known empty) drifting 12 g over an hour: the tare follows the drift."""
    scale = started(500.0, 1)
    scale.run(60, 0.0)
    assert scale.lane.known is Known.EMPTY
    scale.run(3600, lambda s: 12.0 * s / 3600.0)
    assert scale.lane.calibration.tare_g == pytest.approx(12.0, abs=2.0)
    assert [e for e in scale.events if isinstance(e, CalibrationChanged)]


def test_drift_is_not_corrected_while_the_lane_holds_an_unknown_count() -> None:
    """The same drift on a lane with products on it (not known empty or full) moves no tare."""
    scale = started(500.0, 6)
    scale.run(3600, lambda s: 3000.0 + 12.0 * s / 3600.0)
    assert scale.lane.known is Known.UNKNOWN
    assert scale.lane.calibration.tare_g == 0.0
    assert changes(scale.events) == []  # and the drift is no change either


def test_drift_is_not_corrected_while_the_lane_is_unstable() -> None:
    """A known-empty lane whose reading swings (a hand on it) keeps its tare."""
    scale = started(500.0, 1)
    scale.run(60, 0.0)
    tare = scale.lane.calibration.tare_g
    scale.run(600, lambda s: 20.0 + (60.0 if int(s) % 2 else 0.0))
    assert scale.lane.calibration.tare_g == tare


def test_unit_weight_is_learned_from_counted_sales() -> None:
    """A catalog weight 3 % off: after a few counted sales the lane's weight is the real one."""
    real = 515.0
    scale = started(500.0, 0, seed=2)
    scale.lane.confirm(scale.t, 12)
    scale.run(60, 12 * real)
    for left in range(11, 5, -1):
        scale.run(60, left * real)
    assert scale.lane.count == 6
    assert scale.lane.calibration.unit_source is UnitSource.LEARNED
    assert scale.lane.calibration.unit_g == pytest.approx(real, abs=2.5)


def test_staff_confirmation_sets_the_count_and_the_next_level_is_no_change() -> None:
    """After a restock confirmed at 20 units, the level it reaches is not counted again."""
    scale = started(500.0, 2)
    scale.run(40, lambda s: 1000.0 + 500.0 * min(18, int(s / 2)))
    events = scale.lane.confirm(scale.t, 20)
    assert isinstance(events[0], CountConfirmed)
    assert events[0].previous == 2
    later = scale.run(120, 10_000.0)
    assert counted(later) == []
    assert scale.lane.count == 20
    assert scale.lane.known is Known.FULL


def learned(scale: Scale, real: float, count: int) -> None:
    """Sales one by one from `count` until the lane knows the real unit weight well."""
    for left in range(count - 1, count - 13, -1):
        scale.run(60, left * real)


def test_a_sale_right_after_a_staff_count_is_counted() -> None:
    """Staff confirm 20 at the last unit placed; a shopper takes one before the lane is stable:
    the lane counts 19, not 20 (a unit off until the next staff count otherwise)."""
    scale = started(500.0, 15)
    learned(scale, 500.0, 15)
    scale.run(20, lambda s: 1500.0 + 500.0 * min(18, int(s)))
    events = scale.lane.confirm(scale.t, 20)
    assert isinstance(events[0], CountConfirmed)
    later = scale.run(60, 9_500.0)
    assert counted(later) == [-1]
    assert [e.since for e in later if isinstance(e, StockCounted)] == [scale.t - 60]
    assert scale.lane.count == 19


def test_a_unit_held_while_staff_count_and_put_back_is_no_change() -> None:
    """A unit a shopper holds while staff confirm 20, put back 10 s later: still 20."""
    scale = started(500.0, 15)
    learned(scale, 500.0, 15)
    scale.lane.confirm(scale.t, 20)
    scale.run(10, 9_500.0)
    later = scale.run(60, 10_000.0)
    assert changes(later) == []
    assert scale.lane.count == 20


def test_a_staff_count_two_units_off_is_read_as_a_change_since() -> None:
    """Staff confirm 1 on a lane weighing 3 units (a catalog weight tells 1 from 3): the two
    units are counted as a change after their count, not taken as 1."""
    scale = started(500.0, 3)
    scale.lane.confirm(scale.t, 1)
    later = scale.run(60, 1500.0)
    assert counted(later) == [2]
    assert scale.lane.count == 3


def test_a_staff_count_the_catalog_weight_cannot_check_is_taken_as_it_weighs() -> None:
    """With the catalog weight (5 % over 20 units: 1 unit), the first level is the staff's 20."""
    scale = started(500.0, 2)
    scale.lane.confirm(scale.t, 20)
    later = scale.run(60, 9_500.0)
    assert changes(later) == []
    assert scale.lane.count == 20


@pytest.mark.parametrize(
    ("grams", "reason"),
    [
        (math.nan, Rejection.NOT_FINITE),
        (math.inf, Rejection.NOT_FINITE),
        (8_388_607.0, Rejection.OUT_OF_RANGE),
        (-1e9, Rejection.OUT_OF_RANGE),
    ],
)
def test_a_bad_weight_is_rejected_and_the_pipeline_goes_on(grams: float, reason: Rejection) -> None:
    """A bad sample is SampleRejected with its reason and counted; a later sale still counts."""
    scale = started(500.0, 10)
    events = scale.lane.feed(scale.t + 0.5, grams)
    assert [(type(e), e.reason) for e in events if isinstance(e, SampleRejected)] == [
        (SampleRejected, reason)
    ]
    assert scale.lane.rejected[reason] == 1
    assert counted(scale.run(60, 4500.0)) == [-1]


def test_time_going_backwards_is_rejected() -> None:
    """A sample at or before the last sample's time is rejected; the check raises BadSample."""
    scale = started(500.0, 10)
    with pytest.raises(BadSample) as caught:
        scale.lane.check(scale.t - 5.0, 5000.0)
    assert caught.value.reason is Rejection.TIME_NOT_INCREASING
    assert caught.value.lane == 0
    assert caught.value.device_id == "shelf-1"
    events = scale.lane.feed(scale.t, 5000.0)
    assert [e.reason for e in events if isinstance(e, SampleRejected)] == [
        Rejection.TIME_NOT_INCREASING
    ]
    assert counted(scale.run(60, 4000.0)) == [-2]


@settings(max_examples=40, deadline=None)
@given(
    unit=st.floats(40.0, 2000.0),
    start=st.integers(5, 30),
    taken=st.lists(st.integers(1, 3), min_size=1, max_size=4),
    seed=st.integers(0, 10_000),
)
def test_every_held_step_of_whole_units_counts_exactly(
    unit: float, start: int, taken: list[int], seed: int
) -> None:
    """Any unit weight, any start, any series of held removals: each is counted exactly."""
    scale = started(unit, start, seed=seed)
    left = start
    for units in taken:
        if units > left:
            break
        left -= units
        events = scale.run(45, left * unit)
        assert counted(events) == [-units]
    assert scale.lane.count == left
