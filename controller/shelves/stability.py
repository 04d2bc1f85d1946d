"""Is the lane's weight stable? A sliding window of (t, grams) samples, tested for spread and slope.

A weight means something only when nothing is touching the lane. Public baselines detect events
as stable -> unstable -> stable (a moving variance over half a second at 10-60 Hz); our sensors
report about once a second, so the window is longer:

- the window holds the samples of the last `window_s` seconds (4 s: five samples at 1 Hz);
- it is stable when it holds at least `min_samples`, their standard deviation is at most
  `sd_factor` x the scale noise (3 x 2 g = 6 g: five samples of pure noise exceed it about once
  in three million windows) and the least-squares slope is at most `slope_factor` x the noise per
  second (2 x 2 = 4 g/s: a hand pressing slowly, or a product sliding, is a slope, not a level);
- a gap in the samples longer than the window (a sensor offline) empties it: the level after the
  gap must be shown stable again.

A taken product, a hand resting on the shelf or a product being handled makes the window
unstable for at least a few seconds; what is stable is reported as the window's mean, whose
noise is the scale noise / sqrt(samples). Whether a stable level counts is decided later
(counting.py): it must hold for `commit_after_s`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StabilityConfig:
    window_s: float = 4.0  # five samples at 1 Hz
    min_samples: int = 4  # fewer is not enough to tell a level from a swing
    sd_factor: float = 3.0  # x noise_g: the largest standard deviation of a stable window
    slope_factor: float = 2.0  # x noise_g per second: the largest slope of a stable window
    commit_after_s: float = 30.0  # a new level must hold this long to count (counting.py)
    level_factor: float = 4.0  # x noise_g: two stable means closer than this are one level


@dataclass(frozen=True, slots=True)
class StableWindow:
    """A stable window: its mean and the scale noise of that mean."""

    mean_g: float
    noise_of_mean_g: float
    samples: int


class StabilityDetector:
    """The sliding window of one lane; `push` a sample, get the stable level or None."""

    __slots__ = ("_max_sd", "_max_slope", "_min_samples", "_noise", "_samples", "_window_s")

    def __init__(self, config: StabilityConfig, noise_g: float) -> None:
        self._window_s = config.window_s
        self._min_samples = config.min_samples
        self._max_sd = config.sd_factor * noise_g
        self._max_slope = config.slope_factor * noise_g
        self._noise = noise_g
        self._samples: deque[tuple[float, float]] = deque()

    def clear(self) -> None:
        self._samples.clear()

    def push(self, t: float, grams: float) -> StableWindow | None:
        """Add a sample (times increase; the caller checks) and test the window."""
        samples = self._samples
        samples.append((t, grams))
        oldest = t - self._window_s
        while samples[0][0] < oldest:
            samples.popleft()
        n = len(samples)
        if n < self._min_samples:
            return None
        t0 = samples[0][0]
        sum_t = sum_g = sum_tt = sum_tg = sum_gg = 0.0
        for ts, g in samples:
            x = ts - t0
            sum_t += x
            sum_g += g
            sum_tt += x * x
            sum_tg += x * g
            sum_gg += g * g
        mean_g = sum_g / n
        var_g = max(0.0, (sum_gg - sum_g * mean_g) / (n - 1))
        if var_g > self._max_sd * self._max_sd:
            return None
        sxx = sum_tt - sum_t * sum_t / n
        if sxx > 0:
            slope = (sum_tg - sum_t * mean_g) / sxx
            if abs(slope) > self._max_slope:
                return None
        return StableWindow(mean_g, self._noise / math.sqrt(n), n)
