"""What the shelf pipeline reports: frozen dataclasses, one per kind, for the controller to act on.

Every event names its sensor, its lane (None for the whole sensor) and the time of the sample that
caused it (or the `now` of a poll). Only `StockCounted`, `InitialCount` and `CountConfirmed`
change a count; the
staff-facing outcomes (`Misplaced`, `Uncertain`) never do.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.shelves.calibration import LaneCalibration
from controller.shelves.errors import Rejection
from controller.shelves.stock import StockState


@dataclass(frozen=True, slots=True, kw_only=True)
class ShelfEvent:
    device_id: str
    lane: int | None
    t: float


@dataclass(frozen=True, slots=True, kw_only=True)
class InitialCount(ShelfEvent):
    """The first stable level of a lane read against its persisted tare (boot, or a new lane)."""

    count: int
    residual_g: float
    confidence: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StockCounted(ShelfEvent):
    """A change between two stable levels that is a whole number of units: a sale (units < 0),
    a restock or a put-back (units > 0). `since` is when the previous level was last seen."""

    units: int
    count: int  # after the change
    delta_g: float
    residual_g: float
    confidence: float
    since: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CountConfirmed(ShelfEvent):
    """Staff counted the lane; their count replaces the pipeline's."""

    count: int
    previous: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Misplaced(ShelfEvent):
    """Weight added that is no whole number of the lane's item: a foreign product. For staff;
    the count is unchanged."""

    grams: float
    nearest_units: int
    residual_g: float
    since: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MisplacedCleared(ShelfEvent):
    """The unexplained weight is gone again (staff took the foreign product away)."""

    grams: float  # what was taken away of the unexplained weight
    units: int  # units of the lane's item changed in the same step (counted separately)


@dataclass(frozen=True, slots=True, kw_only=True)
class Uncertain(ShelfEvent):
    """A change the pipeline cannot read as whole units, or a count the weight contradicts. For
    staff (a recount); the count is unchanged."""

    reason: str
    delta_g: float
    nearest_units: int
    residual_g: float
    since: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LowStock(ShelfEvent):
    count: int
    low_stock: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutOfStock(ShelfEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Restocked(ShelfEvent):
    """The lane left OUT or LOW upwards; `state` is the one it is in now."""

    count: int
    state: StockState


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationChanged(ShelfEvent):
    """The calibration to persist: drift corrected, or a unit weight learned."""

    calibration: LaneCalibration
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorOffline(ShelfEvent):
    last_sample: float | None  # None: never heard from since the pipeline started


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorOnline(ShelfEvent):
    offline_since: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleRejected(ShelfEvent):
    reason: Rejection
    detail: str
