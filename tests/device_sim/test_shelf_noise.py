"""The shelf sensor's noise model: seeded, its ground truth exact, its disturbances as told."""

from __future__ import annotations

import random
from dataclasses import replace

from device_sim.behaviour import Behaviour
from device_sim.shelf_sensor import PRODUCT_GRAMS, ShelfNoise, SimShelfSensor
from firmware_protocol.messages import Telemetry
from firmware_protocol.models import ModelId, model

QUIET = ShelfNoise(
    scale_sd_g=0.0,
    drift_g_per_h=0.0,
    hand_rests_per_h=0.0,
    putbacks_per_h=0.0,
    misplaced_per_h=0.0,
    handling_g=0.0,
)


def noisy(seed: int = 1, noise: ShelfNoise | None = None, sales: float = 30.0) -> SimShelfSensor:
    return SimShelfSensor(
        "shelf-1",
        model(ModelId.SHELF_SENSOR_8),
        Behaviour(checkin_s=1.0, sale_rate_per_h=sales),
        random.Random(seed),
        noise=noise or ShelfNoise(),
    )


def readings(sensor: SimShelfSensor, seconds: int) -> list[tuple[int, ...]]:
    out = []
    for t in range(seconds):
        out += [m.lane_grams for m in sensor.tick(float(t)) if isinstance(m, Telemetry)]
    return out


def test_the_same_seed_gives_the_same_store() -> None:
    """Two sensors with one seed report the same weights; another seed differs."""
    assert readings(noisy(3), 600) == readings(noisy(3), 600)
    assert readings(noisy(3), 600) != readings(noisy(4), 600)


def test_the_truth_follows_every_change_of_the_count() -> None:
    """At every second the truth's count is the lane's, and sales are recorded as they happen."""
    sensor = noisy(sales=120.0)
    for t in range(3600):
        sensor.tick(float(t))
        for lane in sensor.lanes:
            assert lane.truth is not None
            assert lane.truth.count_at(float(t)) == lane.count
    sold = sum(units for lane in sensor.lanes for _, units in lane.truth.sales)  # type: ignore[union-attr]
    assert sold > 100


def test_without_disturbances_a_lane_weighs_its_units() -> None:
    """With noise, drift, hands and handling off, each reading is the sum of its units' weights,
    each within a few % of the catalog weight."""
    sensor = noisy(noise=QUIET, sales=0.0)
    (first,) = readings(sensor, 1)
    for grams, lane in zip(first, sensor.lanes, strict=True):
        assert lane.noise is not None
        assert lane.unit_grams in PRODUCT_GRAMS
        assert grams == round(sum(lane.noise.items))
        assert abs(grams - lane.count * lane.unit_grams) <= 0.08 * lane.count * lane.unit_grams


def offsets(sensor: SimShelfSensor, seconds: int) -> list[list[int]]:
    """Each second, per lane: the reading minus the weight of the units on the lane."""
    out = []
    for t in range(seconds):
        for report in [m for m in sensor.tick(float(t)) if isinstance(m, Telemetry)]:
            units = [round(sum(lane.noise.items)) for lane in sensor.lanes]  # type: ignore[union-attr]
            out.append([g - u for g, u in zip(report.lane_grams, units, strict=True)])
    return out


def test_a_hand_rest_adds_weight_for_seconds_only() -> None:
    """With hands resting often, some seconds read 150 g or more above the units (never less),
    and most read the units exactly."""
    sensor = noisy(noise=replace(QUIET, hand_rests_per_h=60.0), sales=0.0)
    seen = [g for row in offsets(sensor, 1800) for g in row]
    rested = [g for g in seen if g != 0]
    assert rested
    assert min(rested) >= 150 - 3 * 40  # the hand's weight, trembling by up to 40 g
    assert len(rested) < len(seen) // 4


def test_misplaced_products_are_in_the_truth_and_on_the_scale() -> None:
    """A misplaced product is recorded with its weight and weighs on the lane until removed."""
    sensor = noisy(noise=replace(QUIET, misplaced_per_h=30.0), sales=0.0)
    seen = readings(sensor, 1800)
    found = [
        (index, item)
        for index, lane in enumerate(sensor.lanes)
        for item in lane.truth.misplaced  # type: ignore[union-attr]
    ]
    assert found
    index, (placed, removed, grams) = found[0]
    on = seen[int(placed)][index] - seen[0][index]
    assert abs(on - grams) <= 1
    assert removed > placed


def test_drift_stays_within_its_limit() -> None:
    """Over 12 hours a lane's reading wanders from its units' weight, never past the limit."""
    sensor = noisy(noise=replace(QUIET, drift_g_per_h=30.0, drift_limit_g=25.0), sales=0.0)
    seen = [abs(g) for row in offsets(sensor, 12 * 3600) for g in row]
    assert max(seen) <= 26
    assert max(seen) >= 10
