"""What a store sets up for its simulated floor: lanes planned from its catalog (a planogram), the
hour its shoppers come, how soon staff restock, how often a fitting room's shopper asks for help.
Driven tick by tick with explicit times."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from device_sim.behaviour import Behaviour
from device_sim.errors import SimulatorError
from device_sim.fitting_room import SimFittingRoom
from device_sim.shelf_sensor import LanePlan, ShelfNoise, SimShelfSensor
from firmware_protocol.messages import Event, EventKind, Message, Request, Telemetry
from firmware_protocol.models import ModelId, model

PLAN = (LanePlan(365, 10, 6), LanePlan(1000, 6, 0), LanePlan(150, 16, 16), LanePlan(500, 12, 3))
EPCS = tuple(f"3034257BF7194E4000000{n:03d}" for n in range(20))


def shelf(
    noise: ShelfNoise | None = None, plan: tuple[LanePlan, ...] = PLAN, **behaviour: Any
) -> SimShelfSensor:
    return SimShelfSensor(
        "shelf-001",
        model(ModelId.SHELF_SENSOR_4),
        dataclasses.replace(Behaviour.instant(), **behaviour),
        random.Random(7),
        noise=noise,
        planogram=plan,
    )


def room(**behaviour: float) -> SimFittingRoom:
    return SimFittingRoom(
        "fit-01",
        model(ModelId.FITTING_ROOM_DISPLAY),
        Behaviour.instant(**behaviour),
        random.Random(3),
        catalogue_epcs=EPCS,
    )


def report(out: list[Message]) -> Telemetry:
    (found,) = [m for m in out if isinstance(m, Telemetry)]
    return found


def item_ins(out: list[Message]) -> list[Event]:
    return [m for m in out if isinstance(m, Event) and m.kind is EventKind.ITEM_IN]


@pytest.mark.parametrize("noise", [None, ShelfNoise(pack_error=0.0)], ids=["simple", "noisy"])
def test_a_planogram_gives_each_lane_its_item_capacity_and_count(noise: ShelfNoise | None) -> None:
    """Each lane holds its plan's units of its plan's weight, and weighs that (scale noise and
    the units' 1 % spread aside), with and without the noise model."""
    sensor = shelf(noise, sale_rate_per_h=0.0)
    grams = report(sensor.tick(0.0)).lane_grams
    for lane, plan, weight in zip(sensor.lanes, PLAN, grams, strict=True):
        assert (lane.unit_grams, lane.capacity, lane.count) == (
            plan.unit_grams,
            plan.capacity,
            plan.count,
        )
        assert abs(weight - plan.count * plan.unit_grams) <= 3 + 0.05 * plan.unit_grams


def test_a_planogram_must_plan_every_lane() -> None:
    """A planogram of 3 lanes for a 4-lane sensor is refused, naming the sensor."""
    sensor = shelf(plan=PLAN[:3])
    with pytest.raises(SimulatorError, match="shelf-001: a planogram of 3 lanes"):
        sensor.tick(0.0)


@pytest.mark.parametrize("noise", [None, ShelfNoise()], ids=["simple", "noisy"])
def test_no_shopper_touches_a_shelf_before_the_store_opens(noise: ShelfNoise | None) -> None:
    """With sales every few seconds and the store opening 40 s after the first tick, the lanes
    read their opening weight until then (the same count, no hand, no handling), then sell."""
    sensor = shelf(noise, sale_rate_per_h=1800.0, shoppers_after_s=40.0)
    opening = report(sensor.tick(0.0)).lane_grams
    for t in range(1, 40):
        grams = report(sensor.tick(float(t))).lane_grams
        assert [lane.count for lane in sensor.lanes] == [p.count for p in PLAN]
        for before, now in zip(opening, grams, strict=True):
            assert abs(now - before) <= 12  # scale noise and a little drift, never a product
    for t in range(40, 120):
        sensor.tick(float(t))
    assert sum(lane.count for lane in sensor.lanes) < sum(p.count for p in PLAN)


def test_restocks_come_as_soon_as_the_behaviour_says() -> None:
    """A lane at a quarter of its capacity is refilled within restock_wait_s (5-10 s here)."""
    sensor = shelf(plan=(LanePlan(250, 8, 1), *PLAN[1:]), restock_wait_s=(5.0, 10.0))
    sensor.tick(0.0)
    restock_at = sensor.lanes[0].restock_at
    assert restock_at is not None
    assert 5.0 <= restock_at <= 10.0
    sensor.tick(restock_at - 0.1)
    assert sensor.lanes[0].count == 1
    sensor.tick(restock_at)
    assert sensor.lanes[0].count == 8


def test_fitting_room_shoppers_wait_for_the_store_to_open() -> None:
    """A room with a shopper every few seconds sees none in the 30 s before it opens."""
    fitting = room(fitting_visits_per_h=3600.0, shoppers_after_s=30.0)
    before = [m for t in range(30) for m in fitting.tick(float(t))]
    assert item_ins(before) == []
    after = [m for t in range(30, 60) for m in fitting.tick(float(t))]
    assert item_ins(after)
    assert any(isinstance(m, Request) for m in after)


@pytest.mark.parametrize(("share", "pressed"), [(0.0, False), (1.0, True)])
def test_help_share_decides_who_presses_for_help(share: float, pressed: bool) -> None:
    """help_share 1: every shopper presses for help; 0: none does (over many visits)."""
    fitting = room(fitting_visits_per_h=600.0, help_share=share)
    out = [m for t in range(0, 4 * 3600, 10) for m in fitting.tick(float(t))]
    helps = [m for m in out if isinstance(m, Event) and m.kind is EventKind.HELP_REQUEST]
    visits = item_ins(out)
    assert len(visits) >= 10
    assert bool(helps) is pressed
    if pressed:
        assert len(helps) >= 10
