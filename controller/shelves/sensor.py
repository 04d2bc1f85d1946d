"""One sensor's pipeline: its reports checked as a whole, each lane fed, offline and online.

A report (PROTOCOL.md §8.1 Telemetry.lane_grams, lane 0 first) is refused whole when its time is
not after the last report's or it has the wrong number of lanes; a single lane's bad weight is
refused by that lane alone (counting.py), the other lanes go on.

`poll(now)` raises `SensorOffline` once when no report has come for `offline_after_s` (180 s:
shelf sensors report at least every 60 s, so three reports are missing), and the next report
raises `SensorOnline`. The lanes' windows empty themselves over the gap (stability.py), so a
level after the gap counts only once it is stable again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from controller.shelves.calibration import LaneCalibration
from controller.shelves.counting import LaneCounter
from controller.shelves.errors import BadSample, Rejection, ShelfError
from controller.shelves.events import SampleRejected, SensorOffline, SensorOnline, ShelfEvent
from controller.shelves.stability import StabilityConfig

OFFLINE_AFTER_S = 180.0  # three missed reports of a sensor that reports at least every 60 s


class ShelfCounter:
    """One sensor's lanes, its reports checked as a whole, and its offline / online state."""

    def __init__(
        self,
        device_id: str,
        calibrations: Sequence[LaneCalibration],
        config: StabilityConfig | None = None,
        *,
        started_at: float,
        offline_after_s: float = OFFLINE_AFTER_S,
        hysteresis: int = 2,
        learn_units: bool = True,
        lane_numbers: Sequence[int] | None = None,
    ) -> None:
        if not offline_after_s > 0:
            raise ShelfError(f"{device_id}: offline_after_s must be > 0, not {offline_after_s}")
        # The lanes' numbers in events (default 0, 1, ...): a controller that counts only the
        # linked lanes of a sensor feeds their weights alone and names them as the sensor does.
        numbers = list(range(len(calibrations))) if lane_numbers is None else list(lane_numbers)
        if len(numbers) != len(calibrations):
            raise ShelfError(f"{device_id}: {len(numbers)} lane numbers, {len(calibrations)} lanes")
        self.device_id = device_id
        self.lanes = tuple(
            LaneCounter(
                device_id, number, cal, config, hysteresis=hysteresis, learn_units=learn_units
            )
            for number, cal in zip(numbers, calibrations, strict=True)
        )
        self.offline_after_s = offline_after_s
        self.rejected: Counter[Rejection] = Counter()  # whole reports; lanes count their own
        self.offline_since: float | None = None
        self._started_at = started_at
        self._last_t: float | None = None

    @property
    def last_sample(self) -> float | None:
        return self._last_t

    def rejected_samples(self) -> Counter[Rejection]:
        """Every rejection: whole reports and single lanes' samples."""
        total = Counter(self.rejected)
        for lane in self.lanes:
            total.update(lane.rejected)
        return total

    def feed(self, t: float, lane_grams: Sequence[float]) -> list[ShelfEvent]:
        """One report (PROTOCOL.md §8.1 Telemetry.lane_grams, lane 0 first) at time t."""
        try:
            self._check(t, lane_grams)
        except BadSample as exc:
            self.rejected[exc.reason] += 1
            when = t if math.isfinite(t) else (self._last_t or self._started_at)
            return [
                SampleRejected(
                    device_id=self.device_id,
                    lane=None,
                    t=when,
                    reason=exc.reason,
                    detail=exc.detail,
                )
            ]
        events: list[ShelfEvent] = []
        if self.offline_since is not None:
            events.append(
                SensorOnline(
                    device_id=self.device_id, lane=None, t=t, offline_since=self.offline_since
                )
            )
            self.offline_since = None
        self._last_t = t
        for lane, grams in zip(self.lanes, lane_grams, strict=True):
            events += lane.feed(t, grams)
        return events

    def poll(self, now: float) -> list[ShelfEvent]:
        """`SensorOffline` once when nothing came for `offline_after_s` before `now`."""
        if self.offline_since is not None:
            return []
        heard = self._started_at if self._last_t is None else self._last_t
        if now - heard < self.offline_after_s:
            return []
        self.offline_since = heard
        return [SensorOffline(device_id=self.device_id, lane=None, t=now, last_sample=self._last_t)]

    def _check(self, t: float, lane_grams: Sequence[float]) -> None:
        def bad(reason: Rejection, detail: str) -> BadSample:
            return BadSample(
                reason, detail, device_id=self.device_id, lane=None, t=t, grams=lane_grams
            )

        if not math.isfinite(t):
            raise bad(Rejection.NOT_FINITE, "time is not a finite number")
        if self._last_t is not None and t <= self._last_t:
            raise bad(Rejection.TIME_NOT_INCREASING, f"not after t={self._last_t!r}")
        if len(lane_grams) != len(self.lanes):
            raise bad(
                Rejection.WRONG_LANE_COUNT, f"{len(lane_grams)} weights for {len(self.lanes)} lanes"
            )
