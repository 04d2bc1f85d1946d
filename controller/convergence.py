"""How far a store is from showing what it should, and how long the rest will take.

A large store's first convergence (or a store-wide reprice) takes a minute or more; without a
number it looks stuck. This module turns counts sampled now and then (labels confirmed, labels
rendered, labels in all) into a rate and an estimate of the time left. It does no I/O: the
controller's log, `omnishelf demo` and the console read the counts (one cheap query) and feed
them here, so nothing is added to the per-label work.

Rules:
- The rate is smoothed (an exponential moving average over time, HALF_LIFE_S): the first rounds
  of a convergence are bursty (a render round lands 128 labels at once).
- Until a count has moved there is no rate and the time left is unknown (None), never a guess.
- Two counts are tracked: labels confirmed (the label reported the image it should show) and,
  when given, labels rendered (the controller has their image). Rendering moves first,
  confirmations later: until confirmations have a rate, the labels left are estimated at the
  render rate (the throughput the store has shown so far); then the estimate is the longer of
  the confirmations' and the rest of the rendering's.
- A rate is measured from the last sample before its count moved: start-up (render workers
  starting, labels waking) is not throughput.
- A count that goes down (new work: a reprice makes confirmed labels stale) starts that count's
  rate over from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HALF_LIFE_S = 5.0


@dataclass(frozen=True, slots=True)
class Counts:
    """Labels in all, those the controller rendered an image for, and those confirmed."""

    total: int
    confirmed: int
    rendered: int | None = None

    @property
    def unconfirmed(self) -> int:
        return max(0, self.total - self.confirmed)


@dataclass(frozen=True, slots=True)
class Progress:
    counts: Counts
    rate_per_s: float | None  # labels confirmed a second, smoothed; None until they move
    left_s: float | None  # the estimate of the time left; None: unknown

    @property
    def done(self) -> bool:
        return self.counts.unconfirmed == 0

    def describe(self) -> str:
        """ "4,000 / 20,000 labels confirmed, ~45 s left" (or "time left unknown")."""
        c = self.counts
        text = f"{c.confirmed:,} / {c.total:,} labels confirmed"
        if self.done:
            return text
        if c.rendered is not None and c.rendered < c.total:
            text += f" ({c.rendered:,} rendered)"
        return f"{text}, {describe_left(self.left_s)}"


def describe_left(seconds: float | None) -> str:
    if seconds is None:
        return "time left unknown"
    if seconds < 90:
        return f"~{max(1, math.ceil(seconds))} s left"
    minutes = seconds / 60
    if minutes < 90:
        return f"~{round(minutes)} min left"
    return f"~{minutes / 60:.1f} h left"


class _Rate:
    """The smoothed rate of one count going up."""

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.at: float | None = None
        self.value = 0  # the count at `at`
        self.rate: float | None = None

    def restart(self) -> None:
        self.at, self.value, self.rate = None, 0, None

    def observe(self, at: float, value: int) -> None:
        if self.at is None or value < self.value or at < self.at:
            self.at, self.value, self.rate = at, value, None  # (re)start
            return
        dt = at - self.at
        if dt <= 0:
            return
        grown = value - self.value
        if self.rate is None:
            if grown == 0:
                self.at = at  # the clock starts when the count starts moving (not at start-up)
                return
            self.rate = grown / dt
        else:
            weight = 1 - 0.5 ** (dt / self.half_life_s)
            self.rate += weight * (grown / dt - self.rate)
        self.at, self.value = at, value

    def left(self, remaining: int) -> float | None:
        if remaining <= 0:
            return 0.0
        if not self.rate or self.rate <= 0:
            return None
        return remaining / self.rate


class ConvergenceEstimate:
    """Feed `observe(at, counts)` (at: monotonic seconds) every second or few; read Progress."""

    def __init__(self, *, half_life_s: float = HALF_LIFE_S) -> None:
        self._confirmed = _Rate(half_life_s)
        self._rendered = _Rate(half_life_s)

    def observe(self, at: float, counts: Counts) -> Progress:
        if counts.rendered == 0:
            self._confirmed.restart()  # nothing can be confirmed before it is rendered
        self._confirmed.observe(at, counts.confirmed)
        left = self._confirmed.left(counts.unconfirmed)
        if counts.rendered is not None:
            self._rendered.observe(at, counts.rendered)
            if left is None:
                # No confirmations yet: at the render rate, the throughput the rest allows.
                left = self._rendered.left(counts.unconfirmed)
            elif counts.rendered < counts.total:
                left = max(left, self._rendered.left(counts.total - counts.rendered) or 0.0)
        if counts.unconfirmed == 0:
            left = 0.0
        return Progress(counts, self._confirmed.rate, left)
