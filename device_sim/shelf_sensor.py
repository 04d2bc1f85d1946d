"""A simulated smart-shelf weight sensor: lanes of one product each, sales and restocking.

Sales follow a Poisson process per lane; when a lane falls to a quarter of its capacity a
restock arrives after a while. Weights are reported in grams with a little scale noise, at each
wake, and a LANE_EMPTY event fires when a lane runs out.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from device_sim.device import SimDevice
from firmware_protocol.messages import Event, EventKind, Message, Telemetry


@dataclass
class Lane:
    unit_grams: int
    capacity: int
    count: int
    restock_at: float | None = None


@dataclass
class SimShelfSensor(SimDevice):
    mains_powered: bool = True
    lanes: list[Lane] = field(default_factory=list)
    last_step: float | None = None
    last_report: float | None = None

    def setup_lanes(self) -> None:
        self.lanes = []
        for _ in range(self.model.lanes):
            capacity = self.rng.randint(8, 30)
            self.lanes.append(Lane(self.rng.choice([125, 250, 500, 750, 1000]), capacity, capacity))

    def lane_grams(self) -> tuple[int, ...]:
        return tuple(
            max(0, lane.count * lane.unit_grams + self.rng.randint(-3, 3)) for lane in self.lanes
        )

    def tick(self, now: float) -> list[Message]:
        out = super().tick(now)
        if not self.lanes:
            self.setup_lanes()
        dt = 0.0 if self.last_step is None else now - self.last_step
        self.last_step = now
        changed = False
        for index, lane in enumerate(self.lanes):
            changed |= self._step_lane(index, lane, dt, now, out)
        due = self.last_report is None or now - self.last_report >= self.behaviour.checkin_s
        if changed or due:
            self.last_report = now
            out.append(
                Telemetry(
                    self.next_telemetry_seq(),
                    self.battery_mv,
                    self.rng.randint(-80, -45),
                    self.rng.randint(180, 240),
                    self.lane_grams(),
                )
            )
        return out

    def _step_lane(self, index: int, lane: Lane, dt: float, now: float, out: list[Message]) -> bool:
        changed = False
        sold = _poisson(self.rng, self.behaviour.sale_rate_per_h * dt / 3600.0)
        if sold and lane.count:
            sold = min(sold, lane.count)
            lane.count -= sold
            changed = True
            if lane.count == 0:
                out.append(Event(self.next_event_id(), EventKind.LANE_EMPTY, f"lane-{index}"))
        if lane.count <= lane.capacity // 4 and lane.restock_at is None:
            lane.restock_at = now + self.rng.uniform(600, 3600)
        if lane.restock_at is not None and now >= lane.restock_at:
            lane.count, lane.restock_at, changed = lane.capacity, None, True
        return changed


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
