"""The smart shelves in the running controller: one `ShelfCounter` per sensor with a linked lane,
fed by the device intake, its events and calibrations persisted (docs/shelves.md).

- `on_telemetry` is called by the device intake for each admitted Telemetry with `lane_grams`
  (controller/device_intake.py). It is synchronous and cheap: the pipeline's feed, the events kept
  in memory. A sensor without a linked lane is counted (`ignored`), not an error; so is a
  report whose lanes do not match the sensor's model; an exception in the pipeline is logged and
  counted, and the next message is fed as usual.
- `flush` records the events kept and the calibrations they changed in one unit of work: the
  intake calls it once per batch of messages.
- Telemetry carries no time (PROTOCOL.md §8.1), so a report's time is when the controller took
  it (its clock): a report delayed in the broker is read late, never out of order.
- `load` reads the links and the persisted calibrations at start: the tare comes from the
  database, never from what a lane weighs at boot. `reload(device)` after a link or an unlink
  builds that sensor's counter again: its lanes count again from their next stable level (about
  35 s), read against their persisted tares.
- `poll` (every POLL_S) raises SensorOffline for sensors silent for 180 s.
- Staff: `confirm` (a counted lane) and `tare` (an emptied lane), recorded at once.

Only the pure pipeline (controller/shelves/) decides anything, and controller/shelf_outcomes.py
what its events mean for the store's stock and alerts; this module moves data.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import aiosqlite

from controller.errors import ControllerError
from controller.operations import OperationRefused
from controller.shelf_outcomes import SHELF, alert_change, lane_stock
from controller.shelves import LaneCalibration, LaneCounter, ShelfCounter
from controller.shelves.events import CalibrationChanged, SampleRejected, ShelfEvent
from controller.state.alerts_repo import AlertKind, NewAlert
from controller.state.devices_repo import devices_by_id
from controller.state.shelves_repo import (
    CalibrationUpdate,
    LaneLink,
    NewShelfEvent,
    calibrations,
    lane_links,
    record_shelf_events,
)
from controller.state.stock_repo import AlertChange, LaneStock, StockOutcome
from firmware_protocol.models import DeviceKind, ModelId, model

log = logging.getLogger(__name__)

POLL_S = 5.0  # offline is 180 s: a poll every few seconds is plenty
LANE_EMPTY_GRACE_S = 90.0  # a level needs ~35 s to count: the weight has had time to agree
MAX_PENDING = 10_000  # events kept between flushes; beyond, the oldest are dropped (and counted)


class ShelfRefused(OperationRefused):
    """A staff operation on a lane that cannot be done (not linked, not stable): a 409."""


def _lane_of(subject: str) -> int | None:
    """N of a LANE_EMPTY event's "lane-N"; None for anything else."""
    prefix, _, number = subject.partition("-")
    if prefix != "lane" or not number.isdigit() or len(number) > 2:
        return None
    return int(number)


def sensor_lanes(model_id: int) -> int | None:
    """The lanes a shelf sensor's model declares; None when the model is no shelf sensor."""
    try:
        found = model(ModelId(model_id))
    except (ValueError, KeyError):
        return None
    return found.lanes if found.kind is DeviceKind.SHELF_SENSOR and found.lanes else None


@dataclass(slots=True)
class _Sensor:
    counter: ShelfCounter
    lanes: int  # declared by the model: a report must carry exactly these
    skus: dict[int, str]  # linked lane -> its item
    by_lane: dict[int, LaneCounter]


def _detail(event: ShelfEvent) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for f in fields(event):
        if f.name in ("device_id", "lane", "t"):
            continue
        value = getattr(event, f.name)
        if isinstance(value, LaneCalibration):
            value = value.to_dict()
        elif isinstance(value, Enum):
            value = value.value
        detail[f.name] = value
    return detail


class ShelfService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        clock: Callable[[], datetime],
        *,
        on_recorded: Callable[[StockOutcome], None] | None = None,
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.on_recorded = on_recorded  # after each flush that changed stock or alerts
        self.ignored: Counter[str] = Counter()  # messages not fed, by why
        self._sensors: dict[str, _Sensor] = {}
        self._events: list[NewShelfEvent] = []
        self._calibrations: list[CalibrationUpdate] = []
        self._stock: list[LaneStock] = []
        self._alerts: list[AlertChange] = []
        self._empty_reports: dict[tuple[str, int], float] = {}  # LANE_EMPTY, when

    # ---- building the counters ----------------------------------------------------------------

    async def load(self) -> None:
        """Every linked sensor's counter, from the links and the persisted calibrations."""
        links = await lane_links(self.conn)
        sensors = {link.device_id for link in links}
        built = {}
        for device_id in sorted(sensors):
            sensor = await self._build(device_id, [k for k in links if k.device_id == device_id])
            if sensor is not None:
                built[device_id] = sensor
        self._sensors = built
        log.info("shelves: %d sensors, %d linked lanes", len(built), len(links))

    async def reload(self, device_id: str) -> None:
        """Build one sensor's counter again (after a link or an unlink)."""
        sensor = await self._build(device_id, await lane_links(self.conn, device_id))
        if sensor is None:
            self._sensors.pop(device_id, None)
        else:
            self._sensors[device_id] = sensor

    async def _build(self, device_id: str, links: Sequence[LaneLink]) -> _Sensor | None:
        registered = (await devices_by_id(self.conn, [device_id])).get(device_id)
        lanes = None if registered is None else sensor_lanes(registered.model)
        links = [link for link in links if lanes is not None and link.lane < lanes]
        if lanes is None or not links:
            return None
        stored = await calibrations(self.conn, device_id)
        cals = []
        for link in links:
            kept = stored.get((device_id, link.lane))
            cals.append(kept[0] if kept else LaneCalibration(unit_g=link.unit_g))
        counter = ShelfCounter(
            device_id,
            cals,
            started_at=self._now(),
            lane_numbers=[link.lane for link in links],
        )
        return _Sensor(
            counter,
            lanes,
            {link.lane: link.sku for link in links},
            {lane.lane: lane for lane in counter.lanes},
        )

    def _now(self) -> float:
        return self.clock().timestamp()

    # ---- reports ------------------------------------------------------------------------------

    def on_telemetry(
        self, device_id: str, lane_grams: Sequence[int], seq: int | None = None
    ) -> None:
        """One sensor's report (its Telemetry `seq`: named in the alerts it raises), fed now;
        never raises."""
        sensor = self._sensors.get(device_id)
        if sensor is None:
            self.ignored["not linked"] += 1
            return
        if len(lane_grams) != sensor.lanes:
            self.ignored["wrong lane count"] += 1
            return
        try:
            weights = [lane_grams[lane] for lane in sensor.skus]
            self._keep(sensor, sensor.counter.feed(self._now(), weights), seq)
        except Exception:  # one sensor's bad report must not stop the others'
            self.ignored["failed"] += 1
            log.exception("shelves: %s's report failed", device_id)

    def _keep(
        self, sensor: _Sensor, events: Sequence[ShelfEvent], report_seq: int | None = None
    ) -> None:
        for event in events:
            if isinstance(event, SampleRejected):
                continue  # counted by the pipeline (rejected_samples), not stored one by one
            at = datetime.fromtimestamp(event.t, UTC)
            lane = event.lane
            sku = None if lane is None else sensor.skus.get(lane)
            counter = None if lane is None else sensor.by_lane.get(lane)
            if sku is not None and counter is not None:
                counted = lane_stock(event, sku, counter.state)
                if counted is not None:
                    self._stock.append(counted)
            if (change := alert_change(event, sku, report_seq)) is not None:
                self._alerts.append(change)
            if isinstance(event, CalibrationChanged) and lane is not None:
                update = CalibrationUpdate(
                    event.device_id, lane, event.calibration, event.reason, at
                )
                self._calibrations.append(update)
            self._events.append(
                NewShelfEvent(
                    kind=type(event).__name__,
                    device_id=event.device_id,
                    lane=lane,
                    sku=sku,
                    count=getattr(event, "count", None),
                    detail=_detail(event),
                    at=at,
                )
            )
        for kept, what in ((self._events, "events"), (self._stock, "counts")):
            if len(kept) > MAX_PENDING:
                self.ignored[f"{what} dropped"] += len(kept) - MAX_PENDING
                del kept[:-MAX_PENDING]

    async def flush(self) -> None:
        """Record the events, counts and alert changes kept since the last flush (one
        transaction), then say what changed (`on_recorded`)."""
        events, updates, stock, alerts = self._events, self._calibrations, self._stock, self._alerts
        if not events and not updates and not stock and not alerts:
            return
        self._events, self._calibrations, self._stock, self._alerts = [], [], [], []
        try:
            outcome = await record_shelf_events(
                self.conn, events, updates, stock, alerts, at=self.clock()
            )
        except BaseException:  # kept for the next flush (bounded by MAX_PENDING), then raised
            self._events[:0], self._calibrations[:0] = events, updates
            self._stock[:0], self._alerts[:0] = stock, alerts
            raise
        if self.on_recorded is not None and (
            outcome.upstream or outcome.alerts or outcome.relabelled
        ):
            self.on_recorded(outcome)

    async def poll(self) -> None:
        """Sensors silent for too long are offline; a lane the sensor said was empty that the
        weight still counts is a recount for staff; then flush."""
        now = self._now()
        for sensor in self._sensors.values():
            self._keep(sensor, sensor.counter.poll(now))
        self._check_empty_reports(now)
        await self.flush()

    def on_lane_empty(self, device_id: str, subject: str) -> None:
        """The sensor's own LANE_EMPTY event (PROTOCOL.md §8.2, subject "lane-N"): a second
        opinion. The pipeline decides the count; when it still counts units LANE_EMPTY_GRACE_S
        after the sensor said empty, staff are asked to recount (`uncertain`)."""
        sensor = self._sensors.get(device_id)
        lane = _lane_of(subject)
        if sensor is None or lane is None or lane not in sensor.by_lane:
            self.ignored["lane empty of no linked lane"] += 1
            return
        self._empty_reports.setdefault((device_id, lane), self._now())

    def _check_empty_reports(self, now: float) -> None:
        for (device_id, lane), reported in list(self._empty_reports.items()):
            if now - reported < LANE_EMPTY_GRACE_S:
                continue
            del self._empty_reports[(device_id, lane)]
            sensor = self._sensors.get(device_id)
            counter = None if sensor is None else sensor.by_lane.get(lane)
            if sensor is None or counter is None or not counter.count:
                continue  # the weight agrees (or the lane is gone)
            subject = f"{device_id}/{lane}"
            detail = {
                "reason": f"the sensor reported the lane empty; the weight counts {counter.count}",
                "count": counter.count,
            }
            alert = NewAlert(
                AlertKind.UNCERTAIN, subject, device_id, lane, sensor.skus.get(lane), detail
            )
            self._alerts.append(AlertChange(alert, (), subject, SHELF))

    # ---- what staff see and do ----------------------------------------------------------------

    def lane(self, device_id: str, lane: int) -> LaneCounter | None:
        """The live pipeline of a linked lane (None: not linked, or the sensor is no shelf)."""
        sensor = self._sensors.get(device_id)
        return None if sensor is None else sensor.by_lane.get(lane)

    def last_report(self, device_id: str) -> float | None:
        """The time of the sensor's last report fed (None: none since it was built)."""
        sensor = self._sensors.get(device_id)
        return None if sensor is None else sensor.counter.last_sample

    def rejected(self, device_id: str) -> int:
        sensor = self._sensors.get(device_id)
        return 0 if sensor is None else sum(sensor.counter.rejected_samples().values())

    async def confirm(self, device_id: str, lane: int, count: int) -> LaneCounter:
        counter = self._linked(device_id, lane)
        self._keep(self._sensors[device_id], counter.confirm(self._now(), count))
        await self.flush()
        return counter

    async def tare(self, device_id: str, lane: int) -> LaneCounter:
        counter = self._linked(device_id, lane)
        try:
            changed = counter.tare_now(self._now())
        except ControllerError as exc:
            raise ShelfRefused(str(exc)) from exc
        self._keep(self._sensors[device_id], [changed])
        await self.flush()
        return counter

    def _linked(self, device_id: str, lane: int) -> LaneCounter:
        counter = self.lane(device_id, lane)
        if counter is None:
            raise ShelfRefused(f"{device_id} lane {lane} is not linked to an item")
        return counter
