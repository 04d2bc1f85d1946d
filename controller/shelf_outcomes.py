"""What the shelves' events mean for the store: the lane counts that change its stock (and go to
HQ), the alerts they open and resolve (docs/shelves.md "Stock, labels, alerts and HQ").

Pure functions from the weight pipeline's events (controller/shelves/events.py) to the state
layer's records (state/stock_repo.py, state/alerts_repo.py); controller/shelf_service.py keeps
what they return and records it once per batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controller.shelves.events import (
    CountConfirmed,
    InitialCount,
    LowStock,
    Misplaced,
    MisplacedCleared,
    OutOfStock,
    Restocked,
    SensorOffline,
    SensorOnline,
    ShelfEvent,
    StockCounted,
    Uncertain,
)
from controller.shelves.stock import StockState
from controller.state.alerts_repo import AlertKind, NewAlert
from controller.state.stock_repo import AlertChange, LaneStock

_STATE = {StockState.IN_STOCK: "ok", StockState.LOW: "low", StockState.OUT: "out"}
SHELF = "shelf"  # who resolves an alert the sensor itself settles (a restock, a sensor back)


def lane_stock(event: ShelfEvent, sku: str, state: StockState | None) -> LaneStock | None:
    """The lane count an event records (None: the event changes no count)."""
    if state is None or event.lane is None:
        return None
    at = datetime.fromtimestamp(event.t, UTC)
    if isinstance(event, InitialCount):
        units, cause = None, "initial"
    elif isinstance(event, StockCounted):
        units, cause = event.units, "sale" if event.units < 0 else "restock"
    elif isinstance(event, CountConfirmed):
        units = None if event.previous is None else event.count - event.previous
        cause = "count"
    else:
        return None
    return LaneStock(event.device_id, event.lane, sku, event.count, _STATE[state], units, cause, at)


def alert_change(
    event: ShelfEvent, sku: str | None, report_seq: int | None = None
) -> AlertChange | None:
    """The alert an event opens or resolves (None: none). An alert is about a lane
    ("shelf-0001/2") or, offline, about the sensor; it names the report that raised it (its
    Telemetry `seq`) when one did."""
    lane, device = event.lane, event.device_id
    subject = device if lane is None else f"{device}/{lane}"

    def opening(kind: AlertKind, detail: dict[str, Any], *resolving: AlertKind) -> AlertChange:
        if report_seq is not None:
            detail = detail | {"report_seq": report_seq}
        alert = NewAlert(kind, subject, device, lane, sku, detail)
        return AlertChange(alert, resolving, subject, SHELF)

    def resolving(*kinds: AlertKind, by: str = SHELF) -> AlertChange:
        return AlertChange(None, kinds, subject, by)

    if isinstance(event, LowStock):
        return opening(AlertKind.LOW_STOCK, {"count": event.count, "low_stock": event.low_stock})
    if isinstance(event, OutOfStock):
        return opening(AlertKind.OUT_OF_STOCK, {"count": 0}, AlertKind.LOW_STOCK)
    if isinstance(event, Restocked):
        if event.state is StockState.LOW:
            detail = {"count": event.count}
            return opening(AlertKind.LOW_STOCK, detail, AlertKind.OUT_OF_STOCK)
        return resolving(AlertKind.OUT_OF_STOCK, AlertKind.LOW_STOCK)
    if isinstance(event, Misplaced):
        found: dict[str, Any] = {"grams": round(event.grams, 1), "units": event.nearest_units}
        return opening(AlertKind.MISPLACED, found)
    if isinstance(event, MisplacedCleared):
        return resolving(AlertKind.MISPLACED)
    if isinstance(event, Uncertain):
        why: dict[str, Any] = {"reason": event.reason, "delta_g": round(event.delta_g, 1)}
        return opening(AlertKind.UNCERTAIN, why)
    if isinstance(event, CountConfirmed):
        return resolving(AlertKind.UNCERTAIN, by="staff count")
    if isinstance(event, SensorOffline):
        return opening(AlertKind.SENSOR_OFFLINE, {"last_sample": event.last_sample})
    if isinstance(event, SensorOnline):
        return resolving(AlertKind.SENSOR_OFFLINE)
    return None
