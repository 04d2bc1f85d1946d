"""The devices scenario's bookkeeping (bench/store_devices.py): which alert answers which probe
report, idle or during the reprice, and what the section prints."""

from __future__ import annotations

from typing import Any

from bench.store_devices import DevicesRun, Phases, _attribute, devices_section
from bench.store_rig import StoreShape


def _alert(
    device: str, seq: Any, *, kind: str = "out_of_stock", version: int = 1
) -> dict[str, Any]:
    return {"kind": kind, "version": version, "device_id": device, "detail": {"report_seq": seq}}


def test_an_alert_is_timed_from_the_report_it_names_and_phased_by_that_report() -> None:
    published = {"shelf-probe-01/3": 40.0, "shelf-probe-01/7": 100.0, "shelf-probe-01/9": 200.0}
    alerts = [
        (40.1, _alert("shelf-probe-01", 3)),  # before the idle phase: 100 ms
        (100.25, _alert("shelf-probe-01", 7)),  # idle: 250 ms
        (200.5, _alert("shelf-probe-01", 9)),  # during the reprice: 500 ms
        (201.0, _alert("shelf-probe-01", 9, version=2)),  # its acknowledgement: not again
        (202.0, _alert("shelf-probe-01", 9, kind="low_stock")),  # another kind
        (203.0, _alert("shelf-probe-01", 99)),  # a report not sent: counted, not timed
        (204.0, _alert("shelf-0001", 3)),  # a background sensor's: ignored
    ]
    run = DevicesRun(StoreShape(10))
    _attribute(run, alerts, published, Phases(idle_from=50.0, reprice=(150.0, 250.0)))
    assert [round(ms) for ms in run.sensor_ms["start"]] == [100]
    assert [round(ms) for ms in run.sensor_ms["idle"]] == [250]
    assert [round(ms) for ms in run.sensor_ms["busy"]] == [500]
    assert run.unattributed_alerts == 1


def test_the_section_shows_both_phases_and_the_comparison() -> None:
    run = DevicesRun(StoreShape(10, sensors=5, rooms=2, probe_sensors=1))
    run.sensor_ms["idle"] = [4.0, 6.0, 8.0]
    run.room_ms["busy"] = [10.0]
    section = devices_section(run, {"p50_ms": 100.0, "p99_ms": 900.0})
    rows = {row["phase"]: row for row in section.rows}
    assert rows["idle"]["sensor_to_alert_n"] == 3
    assert rows["idle"]["sensor_to_alert_p50_ms"] == 6.0
    assert rows["during the reprice"]["room_answer_p99_ms"] == 10.0
    assert rows["during the reprice"]["sensor_to_alert_p99_ms"] is None
    assert any("without the devices" in note and "p99 900.0 ms" in note for note in section.notes)
