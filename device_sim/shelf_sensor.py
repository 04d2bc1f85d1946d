"""A simulated smart-shelf weight sensor: lanes of one product each, sales and restocking.

Sales follow a Poisson process per lane; when a lane falls to a quarter of its capacity a
restock arrives after a while (`Behaviour.restock_wait_s`). Weights are reported in grams with a
little scale noise, at each wake, and a LANE_EMPTY event fires when a lane runs out. No shopper
comes before `Behaviour.shoppers_after_s` from the first tick (the store opens).

What each lane holds is drawn from the sensor's rng, or given as a planogram (`LanePlan`: the
catalog's unit weight, the lane's capacity and its count at the first tick), as a store that
linked its lanes to catalog items would set it (the demo does).

The noise model (`noise=ShelfNoise(...)`; without it the sensor behaves as above, draw for draw)
makes the weights what a load cell under a real shelf reports, for the counting pipeline
(controller/shelves) and its benchmark (bench/shelf_counting.py). Per lane, every process seeded
from the sensor's rng:

- products: the lane's item is drawn from `PRODUCT_GRAMS` (real packs: 45 g to 1.5 kg), the
  catalog's weight (`lane.unit_grams`); its units really weigh on average up to `pack_error`
  (3 %) more or less (packaging, fill), and each unit has its own weight, normal around that
  mean with `unit_cv` (1 %), so n units weigh n x mean +/- sqrt(n) x 1 %. Lanes start at a
  random fill (a store in mid-day).
- scale noise: normal, `scale_sd_g` (2 g) per sample, then rounded to whole grams (§8.1).
- drift: the reading wanders at a slope drawn within +/- `drift_g_per_h` (12 g/h: a few grams
  per 15 minutes, as HX711 boards do), drawn again every `drift_every_s`, kept within
  +/- `drift_limit_g`.
- sales: Poisson at Behaviour.sale_rate_per_h; a shopper takes one unit, and one more with
  probability `multi_buy` (repeated).
- handling: taking or placing a product pushes the lane for `handling_s` (0.5-2 s): the samples
  then read up to `handling_g` (300 g) more.
- hands resting on the shelf: Poisson at `hand_rests_per_h`, for `hand_rest_s` (2-10 s), adding
  `hand_grams` (150-1,500 g) that tremble by `hand_tremor_g` (3-40 g per sample; a still hand
  reads as steady as the scale).
- pick-up and put-back: Poisson at `putbacks_per_h`; a shopper lifts one unit, holds it for
  `putback_hold_s` (2-20 s) and puts it back.
- misplaced products: Poisson at `misplaced_per_h`; a product of another weight (another entry of
  PRODUCT_GRAMS) is left on the lane, and staff take it away after `misplaced_stays_s` (10-60
  min) or when they restock, whichever is first. One at a time per lane.
- restocks: as without the model (at a quarter of capacity, `Behaviour.restock_wait_s` later:
  10-60 min by default), but staff place the units one at a time, `restock_s_per_unit` (2 s)
  apart, each with its handling push.

The ground truth (`LaneTruth`, `lane.truth`) records every change of the count on the lane (a
unit held by a shopper is not on the lane), every sale and every misplaced product, so a
benchmark can compare what a pipeline counted with what happened.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from device_sim.device import SimDevice
from device_sim.errors import SimulatorError
from firmware_protocol.messages import Event, EventKind, Message, Telemetry

# Pack weights of real products, grams: a 45 g bar to a 1.5 kg bottle (with their packaging).
PRODUCT_GRAMS = (
    45,
    90,
    113,
    150,
    184,
    227,
    250,
    330,
    365,
    410,
    454,
    500,
    680,
    750,
    907,
    1000,
    1500,
)


@dataclass(frozen=True, slots=True)
class ShelfNoise:
    """The noise model's parameters (the module docstring); rates are per lane per hour."""

    scale_sd_g: float = 2.0
    unit_cv: float = 0.01
    pack_error: float = 0.03
    drift_g_per_h: float = 12.0
    drift_every_s: float = 1800.0
    drift_limit_g: float = 40.0
    multi_buy: float = 0.15
    handling_s: tuple[float, float] = (0.5, 2.0)
    handling_g: float = 300.0
    hand_rests_per_h: float = 2.0
    hand_rest_s: tuple[float, float] = (2.0, 10.0)
    hand_grams: tuple[float, float] = (150.0, 1500.0)
    hand_tremor_g: tuple[float, float] = (3.0, 40.0)
    putbacks_per_h: float = 3.0
    putback_hold_s: tuple[float, float] = (2.0, 20.0)
    misplaced_per_h: float = 0.05
    misplaced_stays_s: tuple[float, float] = (600.0, 3600.0)
    restock_s_per_unit: float = 2.0


@dataclass
class LaneTruth:
    """What really happened on a lane: its count over time, its sales, its misplaced products."""

    times: list[float] = field(default_factory=list)  # the count is counts[i] from times[i] on
    counts: list[int] = field(default_factory=list)
    sales: list[tuple[float, int]] = field(default_factory=list)  # (t, units sold)
    misplaced: list[list[float]] = field(default_factory=list)  # [placed t, removed t, grams]

    def record(self, t: float, count: int) -> None:
        self.times.append(t)
        self.counts.append(count)

    def count_at(self, t: float) -> int:
        """The count on the lane at time t (after every change made at t)."""
        index = bisect.bisect_right(self.times, t) - 1
        return self.counts[max(index, 0)]


@dataclass
class LaneNoise:
    """A lane's state under the noise model: its units, what is on it besides, and what is due."""

    unit_mean_g: float  # the real mean weight of the lane's units (the catalog's is unit_grams)
    items: list[float]  # the weight of each unit on the lane
    next_sale: float
    next_hand: float
    next_putback: float
    next_misplaced: float
    drift_slope: float  # g/h
    drift_next: float
    items_g: float = 0.0
    foreign_g: float = 0.0
    foreign_until: float = math.inf
    hand_until: float = -math.inf
    hand_g: float = 0.0
    hand_tremor: float = 0.0
    held: list[float] = field(default_factory=list)
    return_at: float = math.inf
    push_until: float = -math.inf
    drift_g: float = 0.0
    placing: int = 0  # units staff still have to place
    next_place: float = math.inf

    def __post_init__(self) -> None:
        self.items_g = sum(self.items)


@dataclass(frozen=True, slots=True)
class LanePlan:
    """What a lane holds when the sensor starts: its product's weight in grams (the catalog's;
    with the noise model the real units weigh up to `pack_error` more or less), how many fit,
    how many are on it."""

    unit_grams: int
    capacity: int
    count: int


@dataclass
class Lane:
    unit_grams: int
    capacity: int
    count: int
    restock_at: float | None = None
    noise: LaneNoise | None = None  # the noise model's state; None without it
    truth: LaneTruth | None = None


@dataclass
class SimShelfSensor(SimDevice):
    mains_powered: bool = True
    lanes: list[Lane] = field(default_factory=list)
    last_step: float | None = None
    last_report: float | None = None
    noise: ShelfNoise | None = None  # the noise model; None: the simple sensor
    planogram: tuple[LanePlan, ...] = ()  # one plan per lane; empty: drawn from the rng
    opens_at: float = -math.inf  # no shopper before (set by setup_lanes)

    def setup_lanes(self, now: float = 0.0) -> None:
        self.lanes = []
        self.opens_at = now + self.behaviour.shoppers_after_s
        plans: list[LanePlan | None] = list(self.planogram) or [None] * self.model.lanes
        if len(plans) != self.model.lanes:
            raise SimulatorError(
                f"{self.device_id}: a planogram of {len(plans)} lanes for a sensor of"
                f" {self.model.lanes}"
            )
        if self.noise is not None:
            self.lanes = [self._noisy_lane(now, plan) for plan in plans]
            return
        if self.planogram:
            self.lanes = [Lane(p.unit_grams, p.capacity, p.count) for p in self.planogram]
            return
        for _ in range(self.model.lanes):
            capacity = self.rng.randint(8, 30)
            self.lanes.append(Lane(self.rng.choice([125, 250, 500, 750, 1000]), capacity, capacity))

    def lane_grams(self, now: float = 0.0) -> tuple[int, ...]:
        if self.noise is not None:
            return tuple(self._noisy_grams(lane, now) for lane in self.lanes)
        return tuple(
            max(0, lane.count * lane.unit_grams + self.rng.randint(-3, 3)) for lane in self.lanes
        )

    def tick(self, now: float) -> list[Message]:
        out = super().tick(now)
        if not self.lanes:
            self.setup_lanes(now)
        dt = 0.0 if self.last_step is None else now - self.last_step
        self.last_step = now
        changed = False
        step = self._step_lane if self.noise is None else self._step_noisy_lane
        for index, lane in enumerate(self.lanes):
            changed |= step(index, lane, dt, now, out)
        due = self.last_report is None or now - self.last_report >= self.behaviour.checkin_s
        if changed or due:
            self.last_report = now
            out.append(
                Telemetry(
                    self.next_telemetry_seq(),
                    self.battery_mv,
                    self.rng.randint(-80, -45),
                    self.rng.randint(180, 240),
                    self.lane_grams(now),
                )
            )
        return out

    def _step_lane(self, index: int, lane: Lane, dt: float, now: float, out: list[Message]) -> bool:
        changed = False
        sold = 0
        if now >= self.opens_at:
            sold = _poisson(self.rng, self.behaviour.sale_rate_per_h * dt / 3600.0)
        if sold and lane.count:
            sold = min(sold, lane.count)
            lane.count -= sold
            changed = True
            if lane.count == 0:
                out.append(Event(self.next_event_id(), EventKind.LANE_EMPTY, f"lane-{index}"))
        if lane.count <= lane.capacity // 4 and lane.restock_at is None:
            lane.restock_at = now + self.rng.uniform(*self.behaviour.restock_wait_s)
        if lane.restock_at is not None and now >= lane.restock_at:
            lane.count, lane.restock_at, changed = lane.capacity, None, True
        return changed

    # ---- the noise model ----------------------------------------------------------------------

    def _noisy_lane(self, now: float, plan: LanePlan | None) -> Lane:
        noise, rng, opens = self._noise(), self.rng, self.opens_at
        if plan is None:
            unit = rng.choice(PRODUCT_GRAMS)
            capacity = rng.randint(8, 30)
            count = rng.randint(1, capacity)
        else:
            unit, capacity, count = plan.unit_grams, plan.capacity, plan.count
        real = self._pack_weight(unit)
        state = LaneNoise(
            unit_mean_g=real,
            items=[self._unit_weight(real) for _ in range(count)],
            next_sale=opens + self._wait(self.behaviour.sale_rate_per_h),
            next_hand=opens + self._wait(noise.hand_rests_per_h),
            next_putback=opens + self._wait(noise.putbacks_per_h),
            next_misplaced=opens + self._wait(noise.misplaced_per_h),
            drift_slope=rng.uniform(-noise.drift_g_per_h, noise.drift_g_per_h),
            drift_next=now + noise.drift_every_s,
        )
        truth = LaneTruth()
        truth.record(now, count)
        return Lane(unit, capacity, count, noise=state, truth=truth)

    def _noise(self) -> ShelfNoise:
        assert self.noise is not None
        return self.noise

    def _pack_weight(self, catalog_g: float) -> float:
        error = self._noise().pack_error
        return catalog_g * (1.0 + self.rng.uniform(-error, error))

    def _unit_weight(self, unit: float) -> float:
        return self.rng.gauss(unit, unit * self._noise().unit_cv)

    def _wait(self, per_hour: float) -> float:
        """Time to the next event of a Poisson process (math.inf if it never happens)."""
        return self.rng.expovariate(per_hour / 3600.0) if per_hour > 0 else math.inf

    def _noisy_grams(self, lane: Lane, now: float) -> int:
        noise, rng, state = self._noise(), self.rng, lane.noise
        assert state is not None
        grams = state.items_g + state.foreign_g + state.drift_g + rng.gauss(0.0, noise.scale_sd_g)
        if now < state.hand_until:
            grams += state.hand_g + rng.gauss(0.0, state.hand_tremor)
        if now < state.push_until:
            grams += rng.uniform(0.0, noise.handling_g)
        return round(grams)

    def _step_noisy_lane(
        self, index: int, lane: Lane, dt: float, now: float, out: list[Message]
    ) -> bool:
        noise, rng, state, truth = self._noise(), self.rng, lane.noise, lane.truth
        assert state is not None
        assert truth is not None
        before = len(state.items)
        state.drift_g += state.drift_slope * dt / 3600.0
        state.drift_g = max(-noise.drift_limit_g, min(noise.drift_limit_g, state.drift_g))
        if now >= state.drift_next:
            state.drift_slope = rng.uniform(-noise.drift_g_per_h, noise.drift_g_per_h)
            state.drift_next += noise.drift_every_s
        if now >= state.next_sale:
            state.next_sale = now + self._wait(self.behaviour.sale_rate_per_h)
            sold = 1 if state.items else 0
            while sold and sold < len(state.items) and rng.random() < noise.multi_buy:
                sold += 1
            if sold:
                self._take(state, sold, now)
                truth.sales.append((now, sold))
        if now >= state.return_at:
            state.items += state.held
            state.held, state.return_at = [], math.inf
            self._handled(state, now)
        if now >= state.next_putback:
            state.next_putback = now + self._wait(noise.putbacks_per_h)
            if state.items and not state.held:
                state.held = self._take(state, 1, now)
                state.return_at = now + rng.uniform(*noise.putback_hold_s)
        if now >= state.next_hand:
            state.next_hand = now + self._wait(noise.hand_rests_per_h)
            state.hand_until = now + rng.uniform(*noise.hand_rest_s)
            state.hand_g = rng.uniform(*noise.hand_grams)
            state.hand_tremor = rng.uniform(*noise.hand_tremor_g)
        if now >= state.next_misplaced:
            state.next_misplaced = now + self._wait(noise.misplaced_per_h)
            if not state.foreign_g:
                other = rng.choice([g for g in PRODUCT_GRAMS if g != lane.unit_grams])
                state.foreign_g = self._unit_weight(self._pack_weight(other))
                state.foreign_until = now + rng.uniform(*noise.misplaced_stays_s)
                truth.misplaced.append([now, math.inf, state.foreign_g])
                self._handled(state, now)
        if now >= state.foreign_until:
            self._clear_foreign(state, truth, now)
        self._restock_noisy(lane, state, truth, now)
        state.items_g = sum(state.items)
        lane.count = len(state.items)
        if lane.count != before:
            truth.record(now, lane.count)
            if lane.count == 0:
                out.append(Event(self.next_event_id(), EventKind.LANE_EMPTY, f"lane-{index}"))
        return lane.count != before

    def _restock_noisy(self, lane: Lane, state: LaneNoise, truth: LaneTruth, now: float) -> None:
        count = len(state.items)
        if count <= lane.capacity // 4 and lane.restock_at is None and not state.placing:
            lane.restock_at = now + self.rng.uniform(*self.behaviour.restock_wait_s)
        if lane.restock_at is not None and now >= lane.restock_at:
            lane.restock_at = None
            state.placing = lane.capacity - count
            state.next_place = now
            self._clear_foreign(state, truth, now)  # staff take away what does not belong
        if state.placing and now >= state.next_place:
            state.items.append(self._unit_weight(state.unit_mean_g))
            state.placing -= 1
            state.next_place = now + self._noise().restock_s_per_unit
            self._handled(state, now)

    def _take(self, state: LaneNoise, units: int, now: float) -> list[float]:
        taken = [state.items.pop(self.rng.randrange(len(state.items))) for _ in range(units)]
        self._handled(state, now)
        return taken

    def _handled(self, state: LaneNoise, now: float) -> None:
        state.push_until = now + self.rng.uniform(*self._noise().handling_s)

    def _clear_foreign(self, state: LaneNoise, truth: LaneTruth, now: float) -> None:
        if not state.foreign_g:
            return
        state.foreign_g, state.foreign_until = 0.0, math.inf
        truth.misplaced[-1][1] = now
        self._handled(state, now)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; means here are small (a few sales per wake at most)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
