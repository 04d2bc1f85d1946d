"""The console's pure parts: the wall's aisle/shelf grouping and the price chart's geometry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from controller.console.charts import Step, price_chart
from controller.console.wall import NOT_PLACED, OTHER, WallLabel, arrange, split_location

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def label(device_id: str, location: str | None, *, online: bool = True) -> WallLabel:
    return WallLabel(device_id, location, "TR-1", online, None, b"\x01" * 16, b"\x02" * 16)


def test_locations_split_into_aisle_and_shelf() -> None:
    """ "Reyon 3 / Raf 2" is aisle "Reyon 3", shelf "Raf 2"; others are kept, none is unplaced."""
    assert split_location("Reyon 3 / Raf 2") == ("Reyon 3", "Raf 2")
    assert split_location("aisle 12/shelf 1") == ("aisle 12", "shelf 1")
    assert split_location("by the door") == (OTHER, "by the door")
    assert split_location(None) == (NOT_PLACED, NOT_PLACED)
    assert split_location("  ") == (NOT_PLACED, NOT_PLACED)


def test_aisles_and_shelves_sort_by_number_and_unplaced_come_last() -> None:
    """Reyon 10 comes after Reyon 9; "Not placed" after every aisle; labels by id."""
    wall = arrange(
        [
            label("lbl-00010", "Reyon 10 / Raf 1"),
            label("lbl-00002", None),
            label("lbl-00009", "Reyon 9 / Raf 10"),
            label("lbl-00003", "Reyon 9 / Raf 2"),
            label("lbl-00001", "Reyon 9 / Raf 2"),
        ]
    )
    assert [a.name for a in wall] == ["Reyon 9", "Reyon 10", NOT_PLACED]
    assert list(wall[0].shelves) == ["Raf 2", "Raf 10"]
    assert [x.device_id for x in wall[0].shelves["Raf 2"].labels] == ["lbl-00001", "lbl-00003"]


def test_marks_say_stale_offline_failed() -> None:
    """A label reporting another hash than the desired one is stale; offline and failed add up."""
    stale_offline = label("lbl-1", None, online=False)
    assert stale_offline.marks == ["offline", "stale"]
    shown = WallLabel("lbl-2", None, None, True, "3 tries", b"\x01", b"\x01")
    assert shown.marks == ["failed"]
    assert shown.version == "01"


def test_price_chart_draws_steps_that_end_at_the_next_price() -> None:
    """An open price ends where the next one starts; the last open one runs to now."""
    now = T0 + timedelta(days=10)
    chart = price_chart(
        {
            ("HQ", "hq"): [
                Step(Decimal(10), T0, None),
                Step(Decimal(8), T0 + timedelta(days=5), None),
            ]
        },
        now,
    )
    assert chart is not None
    (series,) = chart.series
    xs = [float(p.split(",")[0]) for p in series.points.split()]
    assert xs == sorted(xs)  # never goes back in time
    assert xs[0] == chart.left
    assert xs[-1] == chart.right_edge
    assert len(series.dots) == 2
    assert price_chart({("HQ", "hq"): []}, now) is None
