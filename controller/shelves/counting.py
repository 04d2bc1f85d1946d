"""Weight to count: one lane's pipeline (`LaneCounter`).

Pure and deterministic: no clock, no I/O. Samples come in with their time; `poll(now)` is the
only other input. What comes out are events (events.py); the controller persists
`CalibrationChanged`, updates stock on `StockCounted` / `InitialCount` and shows the rest to staff.

A lane, step by step, per sample (t, grams):

1. Check: a finite number, within +/- `max_abs_g`, after the last sample's time. Otherwise the
   sample is counted in `rejected` and reported as `SampleRejected`; the pipeline goes on.
2. Stability (stability.py): the last 4 s of samples, stable when their spread and slope are
   within a few times the scale noise. Unstable: any candidate level is dropped.
3. Candidate: a stable mean becomes the candidate level; the next stable means within
   `level_factor` x noise (8 g at 2 g noise) keep it. It must hold `commit_after_s` (30 s) before
   it counts: a hand resting on the lane, or a product picked up, read and put back within 30 s,
   never becomes a level, however still it is held.
4. Settle: the candidate is compared with the reference (the last level that counted).
   - Within the level tolerance: the same level; the reference follows it (slow drift never
     adds up into a change) and, when the lane is known empty or full, the tare is corrected.
   - Otherwise the change is fitted to whole units (calibration.fit_units): a fit is a
     `StockCounted` (a sale, a restock, a put-back after 30 s); an increase that fits no whole
     number is `Misplaced`; a decrease that fits none is `Uncertain`. Neither changes the count;
     their grams are kept as unexplained weight, and a later change that takes exactly that
     weight away (plus or minus whole units) is `MisplacedCleared`.
   - The very first level (boot) is read against the persisted tare: `InitialCount`.
   - After a staff count (`confirm`), the first stable window is the reference, or, when it
     weighs a unit or two off the count and the unit weight can tell, the level the count
     weighs (`_staff_level`): a shopper in the seconds after the count is then a change.
5. Stock state (stock.py) with hysteresis: `LowStock`, `OutOfStock`, `Restocked`. A count of 0
   raises `OutOfStock` only when the weight agrees (the lane weighs less than half a unit above
   its tare, unexplained weight aside); otherwise `Uncertain`, so that a miscount never tells
   staff and shoppers that a full lane is empty.

A sensor's reports go through `sensor.ShelfCounter`, which feeds each lane.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from controller.shelves.calibration import (
    FIT_MAX_RELATIVE,
    FIT_MAX_Z,
    Known,
    LaneCalibration,
    UnitFit,
    correct_drift,
    drift_visible_when_full,
    fit_units,
    learn_unit_weight,
)
from controller.shelves.errors import BadSample, CalibrationError, Rejection, ShelfError
from controller.shelves.events import (
    CalibrationChanged,
    CountConfirmed,
    InitialCount,
    LowStock,
    Misplaced,
    MisplacedCleared,
    OutOfStock,
    Restocked,
    SampleRejected,
    ShelfEvent,
    StockCounted,
    Uncertain,
)
from controller.shelves.stability import StabilityConfig, StabilityDetector, StableWindow
from controller.shelves.stock import StockRules, StockState, initial_state, next_state

DRIFT_EVERY_S = 60.0  # tare corrected at most once a minute (a few grams per 15 min of drift)
DRIFT_GAIN = 0.25  # each correction takes a quarter of the gap: follows drift, not noise
PERSIST_TARE_NOISE = 2.0  # CalibrationChanged when the tare moved 2 x noise_g since the last...
PERSIST_UNIT = 0.005  # ...or the unit weight by this fraction (0.5 %)
LEARN_MIN_CONFIDENCE = 0.8  # learn the unit weight from changes read at least this well
EMPTY_FRACTION = 0.5  # "empty" agrees with the weight below half a unit above the tare
STAFF_RACE_UNITS = 2  # a shopper right after a staff count takes or puts back a unit or two


@dataclass(slots=True)
class _Level:
    grams: float
    noise_g: float  # of the mean
    t: float  # candidate: since when it is stable; reference: when it was last seen
    staff: bool = False  # the level a staff count weighs, not one seen (`_staff_level`)


class LaneCounter:
    """The pipeline of one lane (the module docstring); `feed` samples, read `count`."""

    def __init__(
        self,
        device_id: str,
        lane: int,
        calibration: LaneCalibration,
        config: StabilityConfig | None = None,
        *,
        hysteresis: int = 2,
        learn_units: bool = True,
    ) -> None:
        self.device_id = device_id
        self.lane = lane
        self.config = config or StabilityConfig()
        self.rules = StockRules(calibration.low_stock, hysteresis)
        self.learn_units = learn_units
        self.count: int | None = None  # None until the first stable level
        self.state: StockState | None = None
        self.known = Known.UNKNOWN
        self.unexplained_g = 0.0  # weight on the lane that is no whole number of units
        self.rejected: Counter[Rejection] = Counter()
        self._calibration = calibration
        self._persisted = calibration  # as of the last CalibrationChanged (or the start)
        self._detector = StabilityDetector(self.config, calibration.noise_g)
        self._level_g = self.config.level_factor * calibration.noise_g
        self._candidate: _Level | None = None
        self._reference: _Level | None = None
        self._last_t: float | None = None
        self._drift_checked_t = -math.inf
        self._rebase = False  # a staff count: the next level is the reference, not a change
        self._confirmed_t = -math.inf  # when staff last counted

    @property
    def calibration(self) -> LaneCalibration:
        return self._calibration

    @property
    def level_g(self) -> float | None:
        """The weight of the last level that counted (None before the first)."""
        return None if self._reference is None else self._reference.grams

    # ---- input --------------------------------------------------------------------------------

    def check(self, t: float, grams: float) -> None:
        """Raise BadSample when (t, grams) cannot be used; nothing changes either way."""
        if not math.isfinite(t):
            raise self._bad(Rejection.NOT_FINITE, "time is not a finite number", t, grams)
        if not isinstance(grams, int | float) or not math.isfinite(grams):
            raise self._bad(Rejection.NOT_FINITE, "weight is not a finite number", t, grams)
        if abs(grams) > self._calibration.max_abs_g:
            limit = self._calibration.max_abs_g
            raise self._bad(Rejection.OUT_OF_RANGE, f"|{grams}| > {limit:g} g", t, grams)
        if self._last_t is not None and t <= self._last_t:
            last = self._last_t
            raise self._bad(Rejection.TIME_NOT_INCREASING, f"not after t={last!r}", t, grams)

    def feed(self, t: float, grams: float) -> list[ShelfEvent]:
        """One sample; the events it causes. A bad sample is counted and reported, not raised."""
        try:
            self.check(t, grams)
        except BadSample as exc:
            self.rejected[exc.reason] += 1
            return [self._rejected_event(exc)]
        self._last_t = t
        window = self._detector.push(t, grams)
        if window is None:
            self._candidate = None
            return []
        if self._rebase:  # staff counted: the first stable level after it is what they counted
            self._rebase = False
            self._reference = self._staff_level(t, window)
            self._candidate = _Level(window.mean_g, window.noise_of_mean_g, t)
            return []
        candidate = self._candidate
        if candidate is None or abs(window.mean_g - candidate.grams) > self._level_g:
            self._candidate = _Level(window.mean_g, window.noise_of_mean_g, t)
            return []
        candidate.grams, candidate.noise_g = window.mean_g, window.noise_of_mean_g
        if t - candidate.t < self.config.commit_after_s:
            return []
        return self._settle(t, window)

    def _rejected_event(self, exc: BadSample) -> SampleRejected:
        t = exc.t if math.isfinite(exc.t) else (self._last_t or 0.0)
        return SampleRejected(
            device_id=self.device_id, lane=self.lane, t=t, reason=exc.reason, detail=exc.detail
        )

    def _bad(self, reason: Rejection, detail: str, t: float, grams: object) -> BadSample:
        return BadSample(reason, detail, device_id=self.device_id, lane=self.lane, t=t, grams=grams)

    # ---- staff --------------------------------------------------------------------------------

    def confirm(self, t: float, count: int) -> list[ShelfEvent]:
        """Staff counted the lane (and took away anything foreign): at commissioning, after a
        restock. The count is theirs, and the lane is known empty (0) or known full (its
        capacity), so drift can be corrected. The next stable window becomes the reference
        at once, without being read as a change and without waiting `commit_after_s` (a sale
        in those 30 s would be lost in it).

        The unit weight is not learned from the change up to that level: the last level the
        pipeline settled on may be older than a sale it has not settled yet (a restock starts
        right after the last unit is taken), and one wrong count over 10 units is a 10 % wrong
        weight. Counted changes teach it instead (`_counted`)."""
        if count < 0:
            raise ShelfError(f"{self.device_id} lane {self.lane}: a count cannot be {count}")
        self._rebase = True
        self._confirmed_t = t
        previous, self.count = self.count, count
        self.unexplained_g = 0.0
        cap = self._calibration.capacity
        self.known = (
            Known.EMPTY if count == 0 else Known.FULL if cap and count == cap else Known.UNKNOWN
        )
        self._drift_checked_t = -math.inf
        confirmed = CountConfirmed(
            device_id=self.device_id, lane=self.lane, t=t, count=count, previous=previous
        )
        return [confirmed, *self._stock(t, weight_agrees=True)]

    def _staff_level(self, t: float, window: StableWindow) -> _Level:
        """The reference after a staff count: the first stable window, or, when the calibration
        tells whole units apart at that count and the window weighs a whole number of units more
        or less than the staff counted, the level their count weighs, as of their count.

        Staff count at the moment they finish (the last unit placed, the lane still swinging under
        their hand); a shopper who takes a unit in the next few seconds, or puts back one held
        while they counted, changes the lane before it is first stable. Taken as the count, that
        level would be a unit off until the next staff count: a lane counted 1 that is empty
        raises no OutOfStock. Read against the staff's level, the window is a change like any
        other: it counts once it holds `commit_after_s`; a held unit put back never does."""
        level = _Level(window.mean_g, window.noise_of_mean_g, t)
        cal = self._calibration
        assert self.count is not None
        gap = window.mean_g - cal.tare_g - self.count * cal.unit_g
        units = round(gap / cal.unit_g)
        # What the staff's count may weigh off its level: drift, and the error of the unit weight
        # and the spread of the units over the count (4 sigmas, as `fit_units`).
        sigma = math.sqrt(
            window.noise_of_mean_g**2
            + self.count * (cal.unit_cv * cal.unit_g) ** 2
            + (self.count * cal.unit_mean_sd_g) ** 2
        )
        tolerance = cal.max_drift_g + FIT_MAX_Z * sigma
        if units == 0 or self.count + units < 0 or abs(gap) <= tolerance:
            return level  # the staff's count (drift is corrected later)
        residual = abs(gap - units * cal.unit_g)
        if abs(units) > STAFF_RACE_UNITS or residual > min(
            tolerance, FIT_MAX_RELATIVE * cal.unit_g
        ):
            return level  # not a unit or two whole: as it weighs (Uncertain later)
        # The window less the units it differs by: as uncertain as their weights.
        noise = math.sqrt(
            window.noise_of_mean_g**2
            + abs(units) * (cal.unit_cv * cal.unit_g) ** 2
            + (units * cal.unit_mean_sd_g) ** 2
        )
        return _Level(window.mean_g - units * cal.unit_g, noise, self._confirmed_t, staff=True)

    def tare_now(self, t: float) -> CalibrationChanged:
        """Staff emptied the lane: its current stable level becomes the tare."""
        if self._reference is None or self._candidate is None:
            raise ShelfError(f"{self.device_id} lane {self.lane}: not stable, cannot tare")
        self._calibration = replace(self._calibration, tare_g=self._candidate.grams)
        self.count, self.unexplained_g, self.known = 0, 0.0, Known.EMPTY
        return self._persist(t, "tared by staff")

    # ---- a level that holds -------------------------------------------------------------------

    def _settle(self, t: float, window: StableWindow) -> list[ShelfEvent]:
        reference = self._reference
        if reference is None:
            return self._first_count(t, window)
        delta = window.mean_g - reference.grams
        noise = math.hypot(reference.noise_g, window.noise_of_mean_g)
        if abs(delta) <= max(self._level_g, FIT_MAX_Z * noise):
            reference.grams, reference.noise_g, reference.t = (
                window.mean_g,
                window.noise_of_mean_g,
                t,
            )
            return self._correct_drift(t, window.mean_g)
        since = reference.t
        self._reference = _Level(window.mean_g, window.noise_of_mean_g, t)
        return self._classify(t, since, delta, noise, learn=not reference.staff)

    def _first_count(self, t: float, window: StableWindow) -> list[ShelfEvent]:
        cal = self._calibration
        self._reference = _Level(window.mean_g, window.noise_of_mean_g, t)
        fit = fit_units(window.mean_g - cal.tare_g, cal, window.noise_of_mean_g)
        # Whole units (the fit), or off by no more than drift: the tare was set long ago. Many
        # units with a catalog weight a few % off are no count at all: Uncertain, for a recount.
        close = fit.close or abs(fit.residual_g) <= cal.max_drift_g
        count = max(0, fit.units)
        self.count = count
        events: list[ShelfEvent] = [
            InitialCount(
                device_id=self.device_id,
                lane=self.lane,
                t=t,
                count=count,
                residual_g=fit.residual_g,
                confidence=fit.confidence,
            )
        ]
        if not close or fit.units < 0:
            self.unexplained_g = window.mean_g - cal.tare_g - count * cal.unit_g
            events.append(self._uncertain(t, t, "the first level is no whole number of units", fit))
        return events + self._stock(t, weight_agrees=True)

    def _classify(
        self, t: float, since: float, delta: float, noise: float, *, learn: bool = True
    ) -> list[ShelfEvent]:
        assert self.count is not None  # a reference exists, so a first count was made
        fit = fit_units(delta, self._calibration, noise)
        usable = fit.fits and self.count + fit.units >= 0
        if self.unexplained_g:
            clearing = fit_units(delta + self.unexplained_g, self._calibration, noise)
            plausible = clearing.close and self.count + clearing.units >= 0
            if plausible and (not usable or clearing.z < fit.z):
                return self._cleared(t, since, delta, clearing)
        if usable:
            return self._counted(t, since, delta, fit, learn=learn)
        self.unexplained_g += delta
        self.known = Known.UNKNOWN
        if delta > 0:
            return [
                Misplaced(
                    device_id=self.device_id,
                    lane=self.lane,
                    t=t,
                    grams=delta,
                    nearest_units=fit.units,
                    residual_g=fit.residual_g,
                    since=since,
                )
            ]
        reason = "more removed than counted" if fit.fits else "no whole number of units"
        return [self._uncertain(t, since, reason, fit, delta)]

    def _cleared(self, t: float, since: float, delta: float, fit: UnitFit) -> list[ShelfEvent]:
        grams = self.unexplained_g
        self.unexplained_g = 0.0
        events: list[ShelfEvent] = [
            MisplacedCleared(
                device_id=self.device_id, lane=self.lane, t=t, grams=grams, units=fit.units
            )
        ]
        if fit.units:
            events += self._counted(t, since, delta + grams, fit)
        return events

    def _counted(
        self, t: float, since: float, delta: float, fit: UnitFit, *, learn: bool = True
    ) -> list[ShelfEvent]:
        assert self.count is not None
        self.count += fit.units
        self.known = Known.UNKNOWN
        events: list[ShelfEvent] = [
            StockCounted(
                device_id=self.device_id,
                lane=self.lane,
                t=t,
                units=fit.units,
                count=self.count,
                delta_g=delta,
                residual_g=fit.residual_g,
                confidence=fit.confidence,
                since=since,
            )
        ]
        if learn and self.learn_units and fit.confidence >= LEARN_MIN_CONFIDENCE:
            events += self._learn(t, delta, fit.units, f"unit weight learned from {fit.units:+d}")
        agrees = True
        if self.count == 0:
            agrees = self._weighs_empty()
            if agrees:
                self.known = Known.EMPTY
            else:
                events.append(self._uncertain(t, since, "counted empty, but it weighs more", fit))
        return events + self._stock(t, weight_agrees=agrees)

    def _weighs_empty(self) -> bool:
        assert self._reference is not None
        cal = self._calibration
        # Unexplained weight is not taken off: a foreign product on an emptied lane then reads
        # as "uncertain", not "out of stock" (a missed alert rather than a false one), and a
        # wrong first count cannot hide a unit that is still there.
        on_lane = self._reference.grams - cal.tare_g
        return on_lane < EMPTY_FRACTION * cal.unit_g

    def _learn(self, t: float, delta: float, units: int, reason: str) -> list[ShelfEvent]:
        try:
            self._calibration = learn_unit_weight(self._calibration, delta, units)
        except CalibrationError:
            return []  # not the same item after all: keep the weight we have
        persisted = self._persisted.unit_g
        if abs(self._calibration.unit_g - persisted) < PERSIST_UNIT * persisted:
            return []
        return [self._persist(t, reason)]

    def _correct_drift(self, t: float, level_g: float) -> list[ShelfEvent]:
        if self.known is Known.UNKNOWN or t - self._drift_checked_t < DRIFT_EVERY_S:
            return []
        if self.known is Known.FULL and not drift_visible_when_full(self._calibration):
            return []  # the unit weight's error over a full lane would hide drift
        assert self.count is not None
        self._drift_checked_t = t
        corrected = correct_drift(
            self._calibration,
            level_g - self.unexplained_g,
            self.count,
            stable=True,
            known=self.known,
            gain=DRIFT_GAIN,
        )
        if corrected is None:  # too far off to be drift: a miscount or something on the lane
            known = self.known
            self.known = Known.UNKNOWN
            cal = self._calibration
            gap = level_g - self.unexplained_g - cal.tare_g - self.count * cal.unit_g
            fit = fit_units(gap, self._calibration, 0.0)
            return [self._uncertain(t, t, f"weighs {gap:+.0f} g off known {known.value}", fit, gap)]
        self._calibration = corrected
        if abs(corrected.tare_g - self._persisted.tare_g) < PERSIST_TARE_NOISE * corrected.noise_g:
            return []
        return [self._persist(t, f"drift corrected (known {self.known.value})")]

    def _persist(self, t: float, reason: str) -> CalibrationChanged:
        self._persisted = self._calibration
        return CalibrationChanged(
            device_id=self.device_id,
            lane=self.lane,
            t=t,
            calibration=self._calibration,
            reason=reason,
        )

    def _uncertain(
        self, t: float, since: float, reason: str, fit: UnitFit, delta: float | None = None
    ) -> Uncertain:
        return Uncertain(
            device_id=self.device_id,
            lane=self.lane,
            t=t,
            reason=reason,
            delta_g=fit.units * self._calibration.unit_g + fit.residual_g
            if delta is None
            else delta,
            nearest_units=fit.units,
            residual_g=fit.residual_g,
            since=since,
        )

    def _stock(self, t: float, *, weight_agrees: bool) -> list[ShelfEvent]:
        assert self.count is not None
        before = self.state
        if before is None:
            after = initial_state(self.count, self.rules)
        else:
            after = next_state(before, self.count, self.rules)
        if after is StockState.OUT and not weight_agrees:
            return []  # the count says empty, the weight does not: Uncertain was raised instead
        self.state = after
        if after is before:
            return []
        device, lane, count = self.device_id, self.lane, self.count
        if after is StockState.OUT:
            return [OutOfStock(device_id=device, lane=lane, t=t)]
        if after is StockState.LOW and before in (None, StockState.IN_STOCK):
            low = self.rules.low_stock
            return [LowStock(device_id=device, lane=lane, t=t, count=count, low_stock=low)]
        if before is None:
            return []  # in stock at the first count: nothing to say
        return [Restocked(device_id=device, lane=lane, t=t, count=count, state=after)]
