"""Smart shelves: from the weights a shelf sensor reports to counts, stock alerts and staff tasks.

The pipeline is pure (no clock, no I/O): `sensor.ShelfCounter.feed(t, lane_grams)` per report
and `poll(now)` now and then return events (events.py). docs/shelves.md explains the model, the
thresholds and why.

- calibration.py: a lane's persisted calibration (tare, unit weight, noise), the fit of a change to
  whole units, unit-weight learning, drift correction;
- stability.py: the sliding window that says when a lane's weight is stable;
- stock.py: in stock / low / out, with hysteresis;
- events.py: what the pipeline reports;
- counting.py: the pipeline of one lane;
- sensor.py: one sensor's reports, its lanes, offline and online;
- errors.py: `ShelfError` and what it refuses.
"""

from controller.shelves.calibration import Known, LaneCalibration, UnitFit, fit_units
from controller.shelves.counting import LaneCounter
from controller.shelves.errors import BadSample, CalibrationError, Rejection, ShelfError
from controller.shelves.sensor import ShelfCounter
from controller.shelves.stability import StabilityConfig
from controller.shelves.stock import StockRules, StockState

__all__ = [
    "BadSample",
    "CalibrationError",
    "Known",
    "LaneCalibration",
    "LaneCounter",
    "Rejection",
    "ShelfCounter",
    "ShelfError",
    "StabilityConfig",
    "StockRules",
    "StockState",
    "UnitFit",
    "fit_units",
]
