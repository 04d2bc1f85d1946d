"""A sensor's reports: offline after the timeout, online again, bad reports rejected and counted."""

from __future__ import annotations

import math

import pytest

from controller.shelves.calibration import LaneCalibration
from controller.shelves.errors import Rejection, ShelfError
from controller.shelves.events import (
    InitialCount,
    SampleRejected,
    SensorOffline,
    SensorOnline,
    StockCounted,
)
from controller.shelves.sensor import ShelfCounter


def sensor(offline_after_s: float = 180.0) -> ShelfCounter:
    lanes = [LaneCalibration(unit_g=250.0), LaneCalibration(unit_g=1000.0)]
    return ShelfCounter("shelf-7", lanes, started_at=0.0, offline_after_s=offline_after_s)


def test_offline_after_the_timeout_once_then_online_with_the_next_report() -> None:
    """Silent for less than the timeout: nothing; at the timeout: SensorOffline, once; the next
    report: SensorOnline with the time it went silent."""
    shelf = sensor()
    shelf.feed(10.0, [500, 2000])
    assert shelf.poll(189.0) == []
    (offline,) = shelf.poll(190.0)
    assert isinstance(offline, SensorOffline)
    assert offline.last_sample == 10.0
    assert shelf.poll(500.0) == []
    events = shelf.feed(600.0, [500, 2000])
    assert [type(e) for e in events] == [SensorOnline]
    assert events[0].offline_since == 10.0  # type: ignore[attr-defined]
    assert shelf.poll(600.0 + 179.0) == []


def test_a_sensor_never_heard_from_is_offline_from_the_start() -> None:
    """No report at all since the pipeline started: offline after the timeout, no last sample."""
    (offline,) = sensor(offline_after_s=60.0).poll(60.0)
    assert isinstance(offline, SensorOffline)
    assert offline.last_sample is None


def test_reports_count_each_lane_and_a_bad_lane_does_not_stop_the_others() -> None:
    """Two lanes counted from one report each second; a NaN on lane 0 rejects only that lane."""
    shelf = sensor()
    events = []
    for t in range(1, 61):
        events += shelf.feed(float(t), [1000, 3000])
    assert [e.count for e in events if isinstance(e, InitialCount)] == [4, 3]
    rejected = shelf.feed(61.0, [math.nan, 3000])
    assert [(e.lane, e.reason) for e in rejected if isinstance(e, SampleRejected)] == [
        (0, Rejection.NOT_FINITE)
    ]
    for t in range(62, 120):
        events += shelf.feed(float(t), [750, 2000])
    assert [(e.lane, e.units) for e in events if isinstance(e, StockCounted)] == [(0, -1), (1, -1)]
    assert shelf.rejected_samples() == {Rejection.NOT_FINITE: 1}


@pytest.mark.parametrize(
    ("t", "grams", "reason"),
    [
        (5.0, [1, 2, 3], Rejection.WRONG_LANE_COUNT),
        (4.0, [1, 2], Rejection.TIME_NOT_INCREASING),
        (3.0, [1, 2], Rejection.TIME_NOT_INCREASING),
        (math.nan, [1, 2], Rejection.NOT_FINITE),
    ],
)
def test_a_bad_report_is_rejected_whole(t: float, grams: list[int], reason: Rejection) -> None:
    """A report with the wrong number of lanes, or not after the last one, is rejected whole."""
    shelf = sensor()
    shelf.feed(4.0, [1, 2])
    (event,) = shelf.feed(t, grams)
    assert isinstance(event, SampleRejected)
    assert event.lane is None
    assert event.reason is reason
    assert shelf.rejected[reason] == 1
    assert shelf.last_sample == 4.0


def test_the_offline_timeout_must_be_positive() -> None:
    """An offline timeout of 0 is refused at construction."""
    with pytest.raises(ShelfError, match="offline_after_s"):
        sensor(offline_after_s=0.0)


def test_lanes_named_as_the_sensor_names_them() -> None:
    """Counting lanes 1 and 3 of a sensor: their weights are fed alone and their events carry
    lanes 1 and 3; as many numbers as calibrations, or ShelfError."""
    lanes = [LaneCalibration(unit_g=250.0), LaneCalibration(unit_g=1000.0)]
    shelf = ShelfCounter("shelf-7", lanes, started_at=0.0, lane_numbers=[1, 3])
    events = []
    for t in range(40):
        events += shelf.feed(float(t), [500 + (t % 2), 2000])
    assert sorted((e.lane, e.count) for e in events if isinstance(e, InitialCount)) == [
        (1, 2),
        (3, 2),
    ]
    with pytest.raises(ShelfError, match="1 lane numbers, 2 lanes"):
        ShelfCounter("shelf-7", lanes, started_at=0.0, lane_numbers=[1])
