"""A lane's calibration, kept by the controller, and the fit of a weight change to whole units.

A shelf sensor reports one weight per lane (PROTOCOL.md §8.1 `lane_grams`); what a gram means is
the controller's business, never the device's:

- `tare_g`: what the lane reads when it is empty. Set by staff (or a commissioning tool) on an
  empty lane and persisted; it is never taken automatically at boot, because a sensor that
  reboots with products on it would then count them as nothing (the most common complaint of
  DIY-scale users).
- `unit_g`: the weight of one unit of the item bound to the lane, from the catalog, or learned
  from changes the pipeline counted with high confidence (`learn_unit_weight`).
- `noise_g`: one standard deviation of one sample of the scale (HX711-class load cells: 1-3 g).
- `unit_cv`: how much units of one product differ from each other, as a fraction of `unit_g`
  (packaged goods: about 1 %). A change of n units varies by sqrt(n) times that.
- `catalog_error`: how far the catalog's weight may be from the units' real mean (packaging,
  fill; 5 %). A change of n units is off by n times the error of the mean, so until the weight is
  learned a restock of many units may not be countable: the fit says so (`Uncertain`) rather
  than guess, and staff confirming the restock teaches the lane its real unit weight.

Drift (a few grams per 15 minutes on HX711 boards, and with temperature) moves the tare. It is
corrected only when the lane is stable and known empty or known full (`correct_drift`), and only
by up to `max_drift_g`: a larger gap between what the lane weighs and what its count says is a
miscount or a foreign product, which staff must look at, not something to calibrate away.

`LaneCalibration` is a frozen dataclass with `to_dict` / `from_dict` (and JSON), so the
controller can persist it and it survives reboots of both the sensor and the controller.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

from controller.shelves.errors import CalibrationError

MAX_UNIT_CV = 0.2  # units that differ by more than 20 % cannot be counted by weight
FIT_MAX_Z = 4.0  # a residual beyond 4 standard deviations of the expected spread is no fit
FIT_MAX_RELATIVE = 0.15  # nor is one beyond 15 % of a unit, whatever the spread says
LEARN_MAX_RELATIVE = 0.15  # a learned unit weight never moves by more than this per observation
LEARN_PRIOR = 1  # units: the catalog's weight counts as one observation...
LEARN_MEMORY = 100  # ...and the learned weight is a running mean over about this many units
MAX_DRIFT_FRACTION = 0.3  # drift corrected at most by 30 % of a unit...
MAX_DRIFT_G = 60.0  # ...and at most 60 g, whatever the unit


class UnitSource(StrEnum):
    CATALOG = "catalog"
    LEARNED = "learned"


class Known(StrEnum):
    """What is known of a lane's content beyond the count: the condition of drift correction."""

    UNKNOWN = "unknown"
    EMPTY = "empty"  # counted to zero with nothing unexplained on it, or confirmed by staff
    FULL = "full"  # confirmed full by staff (a restock they finished)


@dataclass(frozen=True, slots=True)
class LaneCalibration:
    unit_g: float  # one unit of the bound item
    tare_g: float = 0.0  # the empty lane's reading; set by staff, never at boot
    noise_g: float = 2.0  # scale noise, one standard deviation of one sample
    unit_cv: float = 0.01  # spread of unit weights, a fraction of unit_g
    catalog_error: float = 0.05  # how far a catalog weight may be from the real mean, a fraction
    capacity: int = 0  # units when full; 0 = unknown (no "known full")
    low_stock: int = 2  # low stock at or below this count
    max_abs_g: float = 200_000.0  # a reading beyond +/- this is a glitch, not a weight
    unit_source: UnitSource = UnitSource.CATALOG
    unit_observations: int = 0  # units the learned weight was averaged over

    def __post_init__(self) -> None:
        _check(math.isfinite(self.unit_g) and self.unit_g > 0, "unit_g", self.unit_g, "> 0")
        _check(math.isfinite(self.tare_g), "tare_g", self.tare_g, "a finite number")
        _check(math.isfinite(self.noise_g) and self.noise_g > 0, "noise_g", self.noise_g, "> 0")
        _check(
            math.isfinite(self.unit_cv) and 0 <= self.unit_cv <= MAX_UNIT_CV,
            "unit_cv",
            self.unit_cv,
            f"between 0 and {MAX_UNIT_CV}",
        )
        _check(
            math.isfinite(self.catalog_error) and 0 <= self.catalog_error <= MAX_UNIT_CV,
            "catalog_error",
            self.catalog_error,
            f"between 0 and {MAX_UNIT_CV}",
        )
        _check(_is_int(self.capacity) and self.capacity >= 0, "capacity", self.capacity, ">= 0")
        _check(_is_int(self.low_stock) and self.low_stock >= 0, "low_stock", self.low_stock, ">= 0")
        _check(
            math.isfinite(self.max_abs_g) and self.max_abs_g > 0,
            "max_abs_g",
            self.max_abs_g,
            "> 0",
        )
        _check(
            _is_int(self.unit_observations) and self.unit_observations >= 0,
            "unit_observations",
            self.unit_observations,
            ">= 0",
        )
        if not isinstance(self.unit_source, UnitSource):
            try:
                object.__setattr__(self, "unit_source", UnitSource(self.unit_source))
            except ValueError as exc:
                raise CalibrationError(
                    "unit_source", self.unit_source, "catalog or learned"
                ) from exc

    @property
    def unit_mean_sd_g(self) -> float:
        """How well the unit weight is known: the catalog's error until learned, then the spread
        of the units averaged into it."""
        if self.unit_source is UnitSource.CATALOG or self.unit_observations == 0:
            return self.catalog_error * self.unit_g
        return self.unit_cv * self.unit_g / math.sqrt(self.unit_observations)

    @property
    def max_drift_g(self) -> float:
        """The largest tare correction that is still drift."""
        return min(MAX_DRIFT_FRACTION * self.unit_g, MAX_DRIFT_G)

    def units_on(self, grams: float) -> float:
        """How many units a reading is, unrounded."""
        return (grams - self.tare_g) / self.unit_g

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "unit_source": self.unit_source.value}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> LaneCalibration:
        """The calibration `to_dict` wrote; unknown or missing keys are refused by name."""
        if not isinstance(document, dict):
            raise CalibrationError("document", type(document).__name__, "a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(document) - names)
        if unknown:
            raise CalibrationError(unknown[0], document[unknown[0]], "unknown field")
        if "unit_g" not in document:
            raise CalibrationError("unit_g", None, "missing")
        return cls(**document)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LaneCalibration:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalibrationError("document", text[:40], "not JSON") from exc
        return cls.from_dict(document)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(ok: bool, field: str, value: object, expected: str) -> None:
    if not ok:
        raise CalibrationError(field, value, f"must be {expected}")


# ---- fitting a change to whole units ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitFit:
    """A weight change read as a whole number of units of the lane's item."""

    units: int  # the nearest whole number (negative: removed)
    residual_g: float  # change - units * unit_g
    sigma_g: float  # the spread expected of the residual: scale noise and unit spread
    confidence: float  # 1 - 2|residual|/unit_g: 1 exact, 0 halfway to the next whole number
    close: bool  # the residual is within FIT_MAX_Z sigmas and FIT_MAX_RELATIVE of a unit

    @property
    def fits(self) -> bool:
        """Close to a whole number of units that is not zero: a change of stock."""
        return self.close and self.units != 0

    @property
    def z(self) -> float:
        return abs(self.residual_g) / self.sigma_g


def fit_units(delta_g: float, calibration: LaneCalibration, noise_of_delta_g: float) -> UnitFit:
    """The whole number of units nearest to a change, and whether the change is that number.

    `noise_of_delta_g` is the standard deviation of the change from the scale alone (the
    difference of two window means). The residual must be small against both: the noise plus
    the spread of n units' weights (sqrt(n) * unit_cv * unit_g) plus n times the uncertainty of
    the unit weight (`unit_mean_sd_g`) within FIT_MAX_Z standard deviations, and the unit itself
    within FIT_MAX_RELATIVE, so a product weighing 1.3 units is never read as one unit, however
    noisy the scale."""
    unit = calibration.unit_g
    units = round(delta_g / unit)
    residual = delta_g - units * unit
    spread = calibration.unit_cv * unit
    mean_error = units * calibration.unit_mean_sd_g
    quantum = 0.25  # (0.5 g)^2: reports are whole grams (PROTOCOL.md §8.1)
    sigma = math.sqrt(noise_of_delta_g**2 + abs(units) * spread**2 + mean_error**2 + quantum)
    close = abs(residual) <= FIT_MAX_Z * sigma and abs(residual) <= FIT_MAX_RELATIVE * unit
    confidence = max(0.0, 1.0 - 2.0 * abs(residual) / unit)
    return UnitFit(units, residual, sigma, confidence, close)


# ---- learning and drift ----------------------------------------------------------------------


def learn_unit_weight(calibration: LaneCalibration, delta_g: float, units: int) -> LaneCalibration:
    """The calibration with `delta_g / units` averaged into the unit weight: a running mean in
    which the catalog's weight counts as LEARN_PRIOR units and which remembers about LEARN_MEMORY
    units. So the catalog's weight (often the net weight, without the packaging) gives way to the
    lane's real one within a few sales, but one odd observation moves it little. An observation
    more than LEARN_MAX_RELATIVE away from the current weight is refused: not the same item."""
    if units == 0:
        raise CalibrationError("units", units, "a change of zero units teaches nothing")
    per_unit = delta_g / units
    if not math.isfinite(per_unit) or abs(per_unit - calibration.unit_g) > (
        LEARN_MAX_RELATIVE * calibration.unit_g
    ):
        raise CalibrationError(
            "unit_g", per_unit, f"more than {LEARN_MAX_RELATIVE:.0%} from {calibration.unit_g} g"
        )
    seen = min(LEARN_PRIOR + calibration.unit_observations, LEARN_MEMORY)
    weight = abs(units)
    unit = (calibration.unit_g * seen + per_unit * weight) / (seen + weight)
    return replace(
        calibration,
        unit_g=unit,
        unit_source=UnitSource.LEARNED,
        unit_observations=calibration.unit_observations + weight,
    )


def drift_visible_when_full(calibration: LaneCalibration) -> bool:
    """A full lane tells drift from the unit weight's error only when capacity x that error is
    well under the drift it would correct (a quarter of `max_drift_g`)."""
    return calibration.capacity * calibration.unit_mean_sd_g <= calibration.max_drift_g / 4


def correct_drift(
    calibration: LaneCalibration,
    level_g: float,
    count: int,
    *,
    stable: bool,
    known: Known,
    gain: float = 1.0,
) -> LaneCalibration | None:
    """The calibration with its tare moved so that `level_g` reads as `count` units, or None
    when that is not drift correction: the lane is not stable, or not known empty (count 0) or
    known full (count = capacity, with a unit weight known well enough:
    `drift_visible_when_full`), or the gap exceeds `max_drift_g`. `gain` < 1 moves the tare by
    that fraction of the gap: repeated corrections then follow the drift, not the scale noise."""
    if not stable:
        return None
    if known is Known.EMPTY:
        if count != 0:
            return None
    elif known is Known.FULL:
        if calibration.capacity == 0 or count != calibration.capacity:
            return None
        if not drift_visible_when_full(calibration):
            return None
    else:
        return None
    gap = level_g - (calibration.tare_g + count * calibration.unit_g)
    if abs(gap) > calibration.max_drift_g:
        return None
    return replace(calibration, tare_g=calibration.tare_g + gain * gap)
