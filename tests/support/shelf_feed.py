"""Feeding a lane pipeline with synthetic weights at 1 Hz: the helpers the shelf tests share."""

from __future__ import annotations

import random
from collections.abc import Callable

from controller.shelves.calibration import LaneCalibration
from controller.shelves.counting import LaneCounter
from controller.shelves.events import (
    InitialCount,
    Misplaced,
    ShelfEvent,
    StockCounted,
    Uncertain,
)

NOISE_G = 2.0


def make_lane(unit_g: float = 500.0, **calibration: object) -> LaneCounter:
    fields: dict[str, object] = {"capacity": 20, "low_stock": 3, **calibration}
    return LaneCounter("shelf-1", 0, LaneCalibration(unit_g=unit_g, **fields))  # type: ignore[arg-type]


class Scale:
    """A lane's reading over time, with 2 g of normal noise; `run` feeds it second by second."""

    def __init__(self, lane: LaneCounter, seed: int = 1) -> None:
        self.lane = lane
        self.rng = random.Random(seed)
        self.t = 0.0
        self.events: list[ShelfEvent] = []

    def run(self, seconds: float, grams: float | Callable[[float], float]) -> list[ShelfEvent]:
        """Feed `grams` (a constant, or a function of the time since this call) for `seconds`."""
        out: list[ShelfEvent] = []
        start = self.t
        end = self.t + seconds
        while self.t < end:
            self.t += 1.0
            value = grams(self.t - start) if callable(grams) else grams
            out += self.lane.feed(self.t, value + self.rng.gauss(0.0, NOISE_G))
        self.events += out
        return out


def changes(events: list[ShelfEvent]) -> list[ShelfEvent]:
    """The events that read a change of the lane: counted, misplaced, uncertain."""
    return [e for e in events if isinstance(e, StockCounted | Misplaced | Uncertain)]


def started(unit_g: float = 500.0, count: int = 10, seed: int = 1, **cal: object) -> Scale:
    """A lane at `count` units, its first count made (the level held for a minute)."""
    scale = Scale(make_lane(unit_g, **cal), seed)
    events = scale.run(60, count * unit_g)
    assert [e.count for e in events if isinstance(e, InitialCount)] == [count]
    return scale
