"""Smart-shelf counting accuracy: a seeded simulated store through the weight -> count pipeline.

Shelf sensors with the simulator's noise model (device_sim/shelf_sensor.py: scale noise, drift,
hands resting, pick-up-and-put-back, misplaced products, restocks unit by unit) report every lane
at 1 Hz; each report goes through `controller.shelves.ShelfCounter` as the controller would feed
it. A few sensors go silent for 5 minutes and a few readings are HX711 glitches (the 24-bit
full scale), so the offline and rejection paths run too. The events are compared with the
simulator's ground truth:

- sales counted exactly: of the units that left the lanes between two levels the pipeline
  settled on (a net decrease of the true count), the share in steps counted as exactly that
  many units;
- false out-of-stock: OutOfStock raised while the lane held a unit; missed out-of-stock: a lane
  empty for at least 2 minutes with no OutOfStock while it was empty (or within the settling
  time after);
- misplaced: products of another weight left on a lane, found when a Misplaced event on that
  lane follows within 2 minutes; some weigh a whole number of the lane's units and cannot be
  told by weight at all (shown apart);
- uncertain: Uncertain events (a recount for staff);
- samples/s: lane samples through the pipeline per second of pipeline time (the simulator's
  time not counted).

Nothing is asserted; the numbers are printed as they come.

    .venv/bin/python -m bench.shelf_counting                # 100 sensors x 8 lanes, 1 h, ~40 s
    .venv/bin/python -m bench.shelf_counting --hours 12     # a whole store day (~8 min)
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.harness import Section, print_section
from controller.shelves.calibration import LaneCalibration, fit_units
from controller.shelves.events import (
    CountConfirmed,
    Misplaced,
    MisplacedCleared,
    OutOfStock,
    ShelfEvent,
    StockCounted,
    Uncertain,
)
from controller.shelves.sensor import ShelfCounter
from controller.shelves.stability import StabilityConfig
from device_sim.behaviour import Behaviour
from device_sim.shelf_sensor import Lane, LaneTruth, ShelfNoise, SimShelfSensor
from firmware_protocol.messages import Telemetry
from firmware_protocol.models import ModelId, model

HX711_FULL_SCALE = 2**23 - 1  # what a saturated HX711 reads: a glitch, not a weight
OFFLINE_S = 300  # a silent sensor's silence
EMPTY_MIN_S = 120.0  # an empty episode shorter than this is not expected to raise OutOfStock
MISPLACED_WITHIN_S = 120.0  # a Misplaced event this soon after the product was left finds it
POLL_EVERY_S = 10
WINDOW_S = StabilityConfig().window_s
SALES_TARGET_PCT = 99.5


@dataclass
class Observed:
    """What the pipeline said about one lane."""

    steps: dict[float, list[ShelfEvent]] = field(default_factory=dict)  # settled changes by time
    out_of_stock: list[float] = field(default_factory=list)
    misplaced: list[float] = field(default_factory=list)
    uncertain: list[Uncertain] = field(default_factory=list)
    confirmed: set[float] = field(default_factory=set)  # when staff counted


def calibration_of(lane: Lane) -> LaneCalibration:
    """What staff would enter: the catalog's pack weight, the empty lane's tare, the capacity."""
    return LaneCalibration(
        unit_g=float(lane.unit_grams),
        tare_g=0.0,
        noise_g=2.0,
        capacity=lane.capacity,
        low_stock=max(1, lane.capacity // 5),
    )


def play(
    *,
    sensors: int,
    hours: float,
    seed: int,
    sale_rate: float,
    offline: int,
    glitches: int,
    confirm_restocks: bool = True,
) -> tuple[list[SimShelfSensor], list[ShelfCounter], list[list[Observed]], dict[str, float]]:
    rng = random.Random(seed)
    behaviour = Behaviour(checkin_s=1.0, sale_rate_per_h=sale_rate, seed=seed)
    noise = ShelfNoise()
    sims = [
        SimShelfSensor(
            f"shelf-{n:03d}",
            model(ModelId.SHELF_SENSOR_8),
            behaviour,
            random.Random(f"{seed}:shelf-{n:03d}"),
            noise=noise,
        )
        for n in range(1, sensors + 1)
    ]
    for sim in sims:
        sim.setup_lanes(0.0)
    counters = [
        ShelfCounter(sim.device_id, [calibration_of(lane) for lane in sim.lanes], started_at=0.0)
        for sim in sims
    ]
    observed = [[Observed() for _ in sim.lanes] for sim in sims]
    if confirm_restocks:  # commissioning: staff count every lane once
        for sim, counter in zip(sims, counters, strict=True):
            for lane, pipeline in zip(sim.lanes, counter.lanes, strict=True):
                pipeline.confirm(0.0, lane.count)
    seconds = round(hours * 3600)
    silent = {
        rng.randrange(sensors): rng.randrange(600, max(601, seconds - OFFLINE_S))
        for _ in range(offline)
    }
    glitch_at = {(rng.randrange(sensors), rng.randrange(1, seconds)) for _ in range(glitches)}
    stats: Counter[str] = Counter()
    pipeline_s = sim_s = 0.0
    placing = [[False] * len(sim.lanes) for sim in sims]
    for t in range(seconds + 1):
        now = float(t)
        for k, (sim, counter) in enumerate(zip(sims, counters, strict=True)):
            started = time.perf_counter()
            reports = [m for m in sim.tick(now) if isinstance(m, Telemetry)]
            sim_s += time.perf_counter() - started
            if not reports or (k in silent and silent[k] <= t < silent[k] + OFFLINE_S):
                continue
            grams = list(reports[-1].lane_grams)
            if (k, t) in glitch_at:
                grams[t % len(grams)] = HX711_FULL_SCALE
                stats["glitches"] += 1
            started = time.perf_counter()
            events = counter.feed(now, grams)
            if confirm_restocks:
                events += _staff_confirm(sim, counter, placing[k], now)
            pipeline_s += time.perf_counter() - started
            stats["samples"] += len(grams)
            for event in events:
                _record(observed[k], event, stats)
        if t % POLL_EVERY_S == 0:
            for k, counter in enumerate(counters):
                for event in counter.poll(now):
                    _record(observed[k], event, stats)
    return sims, counters, observed, {**stats, "pipeline_s": pipeline_s, "sim_s": sim_s}


def _staff_confirm(
    sim: SimShelfSensor, counter: ShelfCounter, placing: list[bool], now: float
) -> list[ShelfEvent]:
    """Staff who finish a restock confirm the lane's count on their handheld."""
    events: list[ShelfEvent] = []
    for index, lane in enumerate(sim.lanes):
        assert lane.noise is not None
        busy = lane.noise.placing > 0
        if placing[index] and not busy:
            events += counter.lanes[index].confirm(now, lane.count)
        placing[index] = busy
    return events


def _record(lanes: list[Observed], event: ShelfEvent, stats: Counter[str]) -> None:
    stats[type(event).__name__] += 1
    if event.lane is None:
        return
    lane = lanes[event.lane]
    step = isinstance(event, StockCounted | Misplaced | MisplacedCleared | Uncertain)
    if step and (not isinstance(event, Uncertain) or event.since != event.t):
        lane.steps.setdefault(event.t, []).append(event)
    if isinstance(event, OutOfStock):
        lane.out_of_stock.append(event.t)
    elif isinstance(event, Misplaced):
        lane.misplaced.append(event.t)
    elif isinstance(event, Uncertain):
        lane.uncertain.append(event)
    elif isinstance(event, CountConfirmed):
        lane.confirmed.add(event.t)


@dataclass
class Score:
    removed_units: int = 0  # true units that left lanes in settled steps
    removed_exact: int = 0  # of them, in steps counted exactly
    steps: int = 0  # settled steps with a true change
    steps_exact: int = 0
    phantom_steps: int = 0  # counted a change where none happened
    sold_units: int = 0  # the simulator's sales
    false_out: int = 0
    empty_episodes: int = 0
    missed_out: int = 0
    out_delays: list[float] = field(default_factory=list)
    misplaced: int = 0
    misplaced_found: int = 0
    misplaced_hidden: int = 0  # weigh a whole number of units: no weight can tell
    misplaced_hidden_found: int = 0
    misplaced_false: int = 0
    lanes: int = 0
    lanes_exact_at_end: int = 0
    uncertain_reasons: Counter[str] = field(default_factory=Counter)


def score(
    sims: list[SimShelfSensor],
    counters: list[ShelfCounter],
    observed: list[list[Observed]],
    end: float,
) -> Score:
    result = Score()
    settle_s = 40.0  # commit_after_s and the window: how late a settled change may come
    for sim, counter, lanes in zip(sims, counters, observed, strict=True):
        for lane, pipeline, seen in zip(sim.lanes, counter.lanes, lanes, strict=True):
            truth = lane.truth
            assert truth is not None
            result.lanes += 1
            # A change in the last minute may not have settled yet: any count of that minute.
            recent = {truth.count_at(end - s) for s in range(round(settle_s) + 20)}
            result.lanes_exact_at_end += pipeline.count in recent
            result.sold_units += sum(units for _, units in truth.sales)
            _score_steps(result, truth, seen)
            _score_out(result, truth, seen, end, settle_s)
            _score_misplaced(result, truth, seen, pipeline.calibration)
            result.uncertain_reasons.update(u.reason for u in seen.uncertain)
    return result


def _score_steps(result: Score, truth: LaneTruth, seen: Observed) -> None:
    for t, events in seen.steps.items():
        # A level is the mean of the window that ended when it was seen: read the truth at the
        # window's first sample (a sale in its last sample can hide under the hand's push). A
        # change from what staff counted (counting.py `_staff_level`) is read from their count.
        since = min(getattr(e, "since", t) for e in events)
        if since not in seen.confirmed:
            since -= WINDOW_S
        true_delta = truth.count_at(t - WINDOW_S) - truth.count_at(since)
        counted = sum(e.units for e in events if isinstance(e, StockCounted))
        if true_delta == 0:
            result.phantom_steps += counted != 0
            continue
        result.steps += 1
        result.steps_exact += counted == true_delta
        if true_delta < 0:
            result.removed_units -= true_delta
            result.removed_exact -= true_delta if counted == true_delta else 0


def _score_out(
    result: Score, truth: LaneTruth, seen: Observed, end: float, settle_s: float
) -> None:
    for t in seen.out_of_stock:
        result.false_out += truth.count_at(t) > 0
    episodes: list[tuple[float, float]] = []
    start: float | None = None
    for t, count in zip(truth.times, truth.counts, strict=True):
        if count == 0 and start is None:
            start = t
        elif count > 0 and start is not None:
            episodes.append((start, t))
            start = None
    if start is not None:
        episodes.append((start, end))
    for begin, finish in episodes:
        if finish - begin < EMPTY_MIN_S or begin > end - EMPTY_MIN_S:
            continue
        result.empty_episodes += 1
        raised = [t for t in seen.out_of_stock if begin <= t <= finish + settle_s]
        if raised:
            result.out_delays.append(raised[0] - begin)
        else:
            result.missed_out += 1


def _score_misplaced(
    result: Score, truth: LaneTruth, seen: Observed, calibration: LaneCalibration
) -> None:
    matched: set[float] = set()
    for placed, _removed, grams in truth.misplaced:
        hidden = fit_units(grams, calibration, 1.5).fits
        found = [t for t in seen.misplaced if placed <= t <= placed + MISPLACED_WITHIN_S]
        matched.update(found[:1])
        if hidden:
            result.misplaced_hidden += 1
            result.misplaced_hidden_found += bool(found)
        else:
            result.misplaced += 1
            result.misplaced_found += bool(found)
    result.misplaced_false += len(set(seen.misplaced) - matched)


def pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else float("nan")


def run(
    *,
    sensors: int = 100,
    hours: float = 1.0,
    seed: int = 1,
    sale_rate: float = 6.0,
    offline: int = 2,
    glitches: int = 20,
    confirm_restocks: bool = True,
) -> Section:
    """Scenario "shelves": the store played, scored against the simulator's truth."""
    started = time.perf_counter()
    sims, counters, observed, stats = play(
        sensors=sensors,
        hours=hours,
        seed=seed,
        sale_rate=sale_rate,
        offline=offline,
        glitches=glitches,
        confirm_restocks=confirm_restocks,
    )
    s = score(sims, counters, observed, hours * 3600)
    rejected = sum(sum(c.rejected_samples().values()) for c in counters)
    samples_per_s = stats["samples"] / stats["pipeline_s"] if stats["pipeline_s"] else 0.0
    rows = [
        (
            "sales counted exactly (%)",
            pct(s.removed_exact, s.removed_units),
            f">= {SALES_TARGET_PCT}",
        ),
        ("units sold (truth) / in settled steps", f"{s.sold_units} / {s.removed_units}", ""),
        ("changes counted exactly (%)", pct(s.steps_exact, s.steps), "sales, restocks, put-backs"),
        ("changes counted where none happened", s.phantom_steps, "0"),
        ("false out-of-stock alerts", s.false_out, "0"),
        ("missed out-of-stock", f"{s.missed_out} of {s.empty_episodes}", "0"),
        (
            "out-of-stock alert delay, median (s)",
            statistics.median(s.out_delays) if s.out_delays else float("nan"),
            "",
        ),
        ("misplaced detected", f"{s.misplaced_found} of {s.misplaced}", "all"),
        (
            "misplaced, whole units by weight",
            f"{s.misplaced_hidden_found} of {s.misplaced_hidden} flagged",
            "cannot be told",
        ),
        ("misplaced raised with nothing placed", s.misplaced_false, "0"),
        ("uncertain events", sum(s.uncertain_reasons.values()), "few"),
        (
            "lanes with a true count of the last minute (%)",
            pct(s.lanes_exact_at_end, s.lanes),
            "100",
        ),
        ("glitch samples rejected", f"{rejected} of {int(stats['glitches'])}", "all"),
        ("sensors reported offline", f"{int(stats.get('SensorOffline', 0))} of {offline}", "all"),
        ("samples/s processed", round(samples_per_s), ""),
    ]
    notes = [
        f"{sensors} sensors x 8 lanes, {hours:g} h at 1 Hz, seed {seed}, "
        f"{sale_rate:g} sales per lane per hour; staff confirm counts "
        f"{'at commissioning and after restocks' if confirm_restocks else 'never'}; "
        f"{int(stats['samples']):,} lane samples; "
        f"pipeline {stats['pipeline_s']:.1f} s, simulator {stats['sim_s']:.1f} s.",
        "uncertain by reason: "
        + (", ".join(f"{r}: {n}" for r, n in s.uncertain_reasons.most_common()) or "none"),
        "events: "
        + ", ".join(
            f"{name} {int(stats.get(name, 0))}"
            for name in (
                "InitialCount",
                "CountConfirmed",
                "StockCounted",
                "Misplaced",
                "MisplacedCleared",
                "Uncertain",
                "LowStock",
                "OutOfStock",
                "Restocked",
                "CalibrationChanged",
                "SensorOffline",
                "SensorOnline",
                "SampleRejected",
            )
        ),
    ]
    return Section(
        scenario="shelves",
        title="Smart shelves: weight -> count against the simulator's truth",
        rows=[{"metric": m, "value": v, "target": target} for m, v, target in rows],
        notes=notes,
        seconds=round(time.perf_counter() - started, 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sensors", type=int, default=100, help="8 lanes each")
    parser.add_argument("--hours", type=float, default=1.0, help="simulated time at 1 Hz")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sale-rate", type=float, default=6.0, help="per lane per hour")
    parser.add_argument("--offline", type=int, default=2, help="sensors silent for 5 minutes")
    parser.add_argument("--glitches", type=int, default=20, help="HX711 full-scale readings")
    parser.add_argument(
        "--no-confirm",
        action="store_true",
        help="staff confirm no count: neither at commissioning nor after restocks",
    )
    args = parser.parse_args()
    section = run(
        sensors=args.sensors,
        hours=args.hours,
        seed=args.seed,
        sale_rate=args.sale_rate,
        offline=args.offline,
        glitches=args.glitches,
        confirm_restocks=not args.no_confirm,
    )
    print_section(section)


if __name__ == "__main__":
    main()
