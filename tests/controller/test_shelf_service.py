"""Smart shelves wired into the controller (controller/shelf_service.py): lanes linked over the
API, lane_grams fed through the real device intake, events and calibrations in the real SQLite
state, kept across a restart of the controller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.runtime import Controller
from controller.state.database import open_database
from controller.state.shelves_repo import shelf_events
from firmware_protocol.messages import Telemetry
from label_renderer.batch import BatchRenderer
from tests.controller.api.api_kit import T0, Api, item, open_api, settings_for
from tests.support.shelf_intake import Clock, Sensor, message

SENSOR = "shelf-00001"
UNIT = 365  # grams of one unit of the linked item
TRAY = 200  # grams an empty lane weighs over what the sensor tared itself


@asynccontextmanager
async def _store(tmp_path: Path, store_id: str, clock: Clock) -> AsyncIterator[tuple[Api, Sensor]]:
    """The API around an idle controller whose time is `clock`; a 4-lane sensor is born."""
    settings = settings_for(tmp_path, store_id, adopt=("lbl-*", "shelf-*"))
    async with open_api(settings, clock=clock) as api:
        await api.controller.shelves.load()  # what Controller.run does first
        sensor = Sensor(api.controller, clock, SENSOR)
        await sensor.birth()
        yield api, sensor


async def _link(api: Api, lane: int, **body: Any) -> dict[str, Any]:
    await api.client.put(
        "/api/v1/items/TR-W",
        json=item("TR-W", net_quantity={"value": str(UNIT), "unit": "g"}),
        headers=api.as_("staff"),
    )
    answer = await api.client.post(
        f"/api/v1/sensors/{SENSOR}/lanes/{lane}/link",
        json={"sku": "TR-W", "low_stock": 2} | body,
        headers=api.as_("staff"),
    )
    assert answer.status_code == 200, answer.text
    linked: dict[str, Any] = answer.json()
    return linked


async def _lanes(api: Api) -> dict[int, dict[str, Any]]:
    answer = await api.client.get(f"/api/v1/sensors/{SENSOR}/lanes", headers=api.as_("viewer"))
    assert answer.status_code == 200, answer.text
    return {lane["lane"]: lane for lane in answer.json()["linked"]}


async def test_a_lane_emptied_by_sales_goes_low_then_out(tmp_path: Path, store_id: str) -> None:
    """4 units, 2 sold, 2 sold: InitialCount 4, LowStock at 2, OutOfStock at 0, persisted with
    the lane's SKU and shown by GET lanes; the unlinked lanes' weights change nothing."""
    clock = Clock(T0)
    async with _store(tmp_path, store_id, clock) as (api, sensor):
        linked = await _link(api, 1)
        assert linked["unit_g"] == UNIT  # from the catalog's net quantity
        assert linked["count"] is None  # not read yet
        other = 5_000  # lanes 0, 2, 3: not linked, whatever they weigh
        await sensor.hold(40, (other, 4 * UNIT, other, 0))
        assert (await _lanes(api))[1]["count"] == 4
        await sensor.hold(40, (other + 700, 2 * UNIT, other, 0))
        after_two = (await _lanes(api))[1]
        assert (after_two["count"], after_two["stock"]) == (2, "low")
        assert after_two["last_event"]["kind"] == "LowStock"
        await sensor.hold(40, (other, 0, other, 0))

        events = await shelf_events(api.controller.conn, SENSOR)
        kinds = [(e.kind, e.lane, e.count) for e in events]
        assert kinds == [
            ("InitialCount", 1, 4),
            ("StockCounted", 1, 2),
            ("LowStock", 1, 2),
            ("StockCounted", 1, 0),
            ("OutOfStock", 1, None),
        ]
        assert {e.sku for e in events} == {"TR-W"}
        sold = [e for e in events if e.kind == "StockCounted"]
        assert [e.detail["units"] for e in sold] == [-2, -2]
        # ~35 s after the level changed: a level must hold 30 s (docs/shelves.md)
        assert (sold[0].at - T0).total_seconds() in range(70, 80)
        lane = (await _lanes(api))[1]
        assert (lane["count"], lane["stock"]) == (0, "out")
        assert lane["last_event"]["kind"] == "OutOfStock"
        assert api.controller.shelves.ignored == {}  # the linked sensor's reports were all fed


async def test_the_tare_survives_a_restart_and_is_not_taken_at_boot(
    tmp_path: Path, store_id: str
) -> None:
    """Staff tare an empty lane reading 200 g (a tray); after a restart, 3 units on it (1,295 g)
    read as 3 against the persisted tare: not 0 (a tare taken at boot), nor 3.5 (no tare)."""
    clock = Clock(T0)
    async with _store(tmp_path, store_id, clock) as (api, sensor):
        await _link(api, 0, capacity=10)
        await sensor.hold(40, (TRAY, 0, 0, 0))
        tared = await api.client.post(
            f"/api/v1/sensors/{SENSOR}/lanes/0/tare", headers=api.as_("staff")
        )
        assert tared.status_code == 200, tared.text
        assert abs(tared.json()["calibration"]["tare_g"] - TRAY) < 1
        assert tared.json()["calibration"]["source"] == "tared by staff"
        [entry] = [e for e in await api.audit(f"shelf:{SENSOR}/0") if e["action"] == "shelf.tare"]
        assert entry["actor"] == "staff"

    settings = settings_for(tmp_path, store_id, adopt=("lbl-*", "shelf-*"))
    async with open_database(settings.state_db) as conn:  # the controller restarted
        controller = Controller(settings, conn, BatchRenderer(1), clock=clock)
        await controller.shelves.load()
        sensor = Sensor(controller, clock, SENSOR)
        await sensor.birth(session=2)
        await sensor.hold(40, (TRAY + 3 * UNIT, 0, 0, 0))
        lane = controller.shelves.lane(SENSOR, 0)
        assert lane is not None
        assert lane.count == 3
        assert abs(lane.calibration.tare_g - TRAY) < 1
        last = (await shelf_events(conn, SENSOR, lane=0))[-1]
        assert (last.kind, last.count) == ("InitialCount", 3)


async def test_a_bad_report_does_not_stop_the_next(tmp_path: Path, store_id: str) -> None:
    """An undecodable frame, a report with 3 weights for 4 lanes and a saturated reading are
    dropped or counted; the reports after them are fed and the lane is counted."""
    clock = Clock(T0)
    async with _store(tmp_path, store_id, clock) as (api, sensor):
        await _link(api, 2)
        good = message(store_id, SENSOR, _telemetry_like())
        garbage = replace(good, payload=b"\x04\xff")  # a Telemetry opcode, nothing it needs
        await sensor.report((0, 0, 3 * UNIT, 0), garbage)
        await sensor.controller.device_intake.on_messages(
            [message(store_id, SENSOR, _telemetry_like(lanes=(1, 2, 3)))]
        )
        await sensor.report((0, 0, 8_388_607, 0))  # a saturated HX711
        await sensor.hold(40, (0, 0, 3 * UNIT, 0))
        lanes = await _lanes(api)
        assert lanes[2]["count"] == 3
        assert api.controller.shelves.ignored["wrong lane count"] == 1
        answer = await api.client.get(f"/api/v1/sensors/{SENSOR}/lanes", headers=api.as_("viewer"))
        assert answer.json()["rejected_samples"] == 1  # the saturated one


async def test_reports_of_sensors_without_linked_lanes_are_counted_not_fed(
    tmp_path: Path, store_id: str
) -> None:
    """A sensor with no linked lane: its reports are counted as "not linked", nothing stored."""
    clock = Clock(T0)
    async with _store(tmp_path, store_id, clock) as (api, sensor):
        await sensor.hold(3, (100, 200, 300, 400))
        assert api.controller.shelves.ignored == {"not linked": 3}
        assert await shelf_events(api.controller.conn, SENSOR) == []


async def test_a_silent_sensor_goes_offline_once(tmp_path: Path, store_id: str) -> None:
    """No report for 180 s: one SensorOffline at the poll; the next report: SensorOnline."""
    clock = Clock(T0)
    async with _store(tmp_path, store_id, clock) as (api, sensor):
        await _link(api, 0)
        await sensor.report((0, 0, 0, 0))
        clock.tick(181)
        await api.controller.shelves.poll()
        await api.controller.shelves.poll()
        await sensor.report((0, 0, 0, 0))
        events = await shelf_events(api.controller.conn, SENSOR)
        assert [(e.kind, e.lane) for e in events] == [
            ("SensorOffline", None),
            ("SensorOnline", None),
        ]


def _telemetry_like(lanes: tuple[int, ...] = (0, 0, 0, 0)) -> Telemetry:
    return Telemetry(999, 3000, -60, 210, lanes)
