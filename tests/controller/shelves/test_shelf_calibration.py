"""Lane calibrations: refused when absurd, serialised for reboots, the unit fit, learning, drift."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.shelves.calibration import (
    Known,
    LaneCalibration,
    UnitSource,
    correct_drift,
    fit_units,
    learn_unit_weight,
)
from controller.shelves.errors import CalibrationError


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("unit_g", -250.0),
        ("unit_g", 0.0),
        ("unit_g", math.nan),
        ("tare_g", math.inf),
        ("noise_g", 0.0),
        ("unit_cv", 0.5),
        ("capacity", -1),
        ("low_stock", 1.5),
        ("unit_source", "guessed"),
    ],
)
def test_an_absurd_calibration_is_refused_by_name(field: str, value: object) -> None:
    """Each out-of-range field raises CalibrationError naming that field."""
    document = {"unit_g": 250.0, field: value}
    with pytest.raises(CalibrationError) as caught:
        LaneCalibration.from_dict(document)
    assert caught.value.field == field


@given(
    unit=st.floats(1.0, 50_000.0),
    tare=st.floats(-10_000.0, 10_000.0),
    capacity=st.integers(0, 500),
    observations=st.integers(0, 10_000),
    source=st.sampled_from(UnitSource),
)
def test_a_calibration_survives_json(
    unit: float, tare: float, capacity: int, observations: int, source: UnitSource
) -> None:
    """to_json then from_json gives the same calibration back, whatever its values."""
    calibration = LaneCalibration(
        unit_g=unit,
        tare_g=tare,
        capacity=capacity,
        unit_source=source,
        unit_observations=observations,
    )
    assert LaneCalibration.from_json(calibration.to_json()) == calibration


def test_a_document_with_an_unknown_field_or_no_json_is_refused() -> None:
    """Unknown keys and text that is not JSON raise CalibrationError, not KeyError/ValueError."""
    with pytest.raises(CalibrationError, match="unknown field"):
        LaneCalibration.from_dict({"unit_g": 250.0, "tara": 3.0})
    with pytest.raises(CalibrationError, match="not JSON"):
        LaneCalibration.from_json("{unit_g: 250")
    with pytest.raises(CalibrationError, match="missing"):
        LaneCalibration.from_dict({"tare_g": 3.0})


LEARNED = LaneCalibration(unit_g=500.0, unit_source=UnitSource.LEARNED, unit_observations=50)


@pytest.mark.parametrize(
    ("delta", "units", "fits"),
    [
        (-500.0, -1, True),
        (-1503.0, -3, True),
        (-650.0, -1, False),  # 1.3 units: a product of another weight
        (330.0, 1, False),
        (20.0, 0, False),  # nothing whole
    ],
)
def test_a_change_fits_whole_units_only_when_close(delta: float, units: int, fits: bool) -> None:
    """The nearest whole number, and a fit only within the noise and 15 % of a unit."""
    fit = fit_units(delta, LEARNED, 1.4)
    assert fit.units == units
    assert fit.fits is fits


def test_confidence_falls_with_the_residual() -> None:
    """An exact change has confidence 1; a quarter of a unit off has 0.5."""
    assert fit_units(-1000.0, LEARNED, 1.4).confidence == pytest.approx(1.0)
    assert fit_units(-1125.0, LEARNED, 1.4).confidence == pytest.approx(0.5)


def test_learning_moves_the_unit_weight_toward_what_is_seen() -> None:
    """From the catalog, one observation of 3 units at 510 g moves the weight most of the way;
    one 30 % off is refused."""
    catalog = LaneCalibration(unit_g=500.0)
    learned = learn_unit_weight(catalog, -1530.0, -3)
    assert learned.unit_source is UnitSource.LEARNED
    assert learned.unit_observations == 3
    assert learned.unit_g == pytest.approx((500.0 + 3 * 510.0) / 4)
    with pytest.raises(CalibrationError):
        learn_unit_weight(catalog, -650.0, -1)


def test_drift_is_corrected_only_when_stable_and_known_empty_or_full() -> None:
    """The tare follows a 10 g gap when stable and known empty or full; not when unstable, not
    when the count is unknown, not when the gap is too large to be drift."""
    cal = LaneCalibration(unit_g=500.0, tare_g=100.0, capacity=10)
    empty = correct_drift(cal, 110.0, 0, stable=True, known=Known.EMPTY)
    assert empty is not None
    assert empty.tare_g == pytest.approx(110.0)
    assert correct_drift(cal, 110.0, 0, stable=False, known=Known.EMPTY) is None
    assert correct_drift(cal, 110.0, 0, stable=True, known=Known.UNKNOWN) is None
    assert correct_drift(cal, 100.0 + 200.0, 0, stable=True, known=Known.EMPTY) is None
    full_cal = LaneCalibration(
        unit_g=500.0,
        tare_g=100.0,
        capacity=10,
        unit_source=UnitSource.LEARNED,
        unit_observations=400,
    )
    full = correct_drift(full_cal, 100.0 + 5000.0 - 8.0, 10, stable=True, known=Known.FULL)
    assert full is not None
    assert full.tare_g == pytest.approx(92.0)
    # A catalog weight (5 % uncertain) over 10 units hides any drift: no correction when full.
    assert correct_drift(cal, 100.0 + 5000.0 - 8.0, 10, stable=True, known=Known.FULL) is None
    assert correct_drift(full_cal, 100.0 + 4500.0, 9, stable=True, known=Known.FULL) is None
