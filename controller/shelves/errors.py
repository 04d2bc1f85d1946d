"""What the shelf pipeline refuses: a calibration that makes no sense, a sample it cannot use.

Both carry their context in attributes, so that the caller (the controller's intake, a staff
tool) can say which sensor and lane, and why, without parsing the message.
"""

from __future__ import annotations

from enum import StrEnum

from controller.errors import ControllerError


class ShelfError(ControllerError):
    """The base of every error of the smart-shelf pipeline."""


class CalibrationError(ShelfError):
    """A lane calibration refused: a field out of its range, or a document that is not one."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"lane calibration: {field}={value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class Rejection(StrEnum):
    """Why a sample was not used."""

    NOT_FINITE = "not-finite"  # NaN or infinity
    OUT_OF_RANGE = "out-of-range"  # beyond the lane's bound: a glitch, not a weight
    TIME_NOT_INCREASING = "time-not-increasing"  # before or at the last sample's time
    WRONG_LANE_COUNT = "wrong-lane-count"  # a report with more or fewer lanes than the sensor


class BadSample(ShelfError):
    """One sample the pipeline cannot use. The pipeline counts it and goes on with the next."""

    def __init__(
        self,
        reason: Rejection,
        detail: str,
        *,
        device_id: str,
        lane: int | None,
        t: float,
        grams: object,
    ) -> None:
        where = device_id if lane is None else f"{device_id} lane {lane}"
        super().__init__(f"{where} at t={t!r}: {reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.device_id = device_id
        self.lane = lane
        self.t = t
        self.grams = grams
