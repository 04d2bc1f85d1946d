"""Smart shelves' state: which item each lane holds, its calibration, what the pipeline said.

- shelf_lanes: a lane linked to an item (unit weight, low-stock level, capacity), by whom, when;
- shelf_calibrations: the lane's `LaneCalibration` (controller/shelves/calibration.py), kept by
  the controller so that it survives restarts of the sensor and of the controller. The tare is
  never taken at boot: a controller that restarts reads it back from here. Unlinking a lane keeps
  its calibration (the tare is the lane's, not the item's); linking another item keeps the tare
  and the noise and starts the unit weight again from the new item's;
- shelf_events: the events worth keeping (stock, staff tasks, offline), newest last.

At the end, the store's shelf sensors (the console's list of them).

Each function is one unit of work (a transaction), in the style of the other repos.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiosqlite

from controller.shelves.calibration import LaneCalibration, UnitSource
from controller.state.audit_repo import append_audit
from controller.state.database import transaction
from controller.state.stock_repo import (
    AlertChange,
    LaneStock,
    StockOutcome,
    apply_stock_in,
    forget_lane_in,
)
from controller.state.units import run_unit
from firmware_protocol.models import DeviceKind, ModelId


@dataclass(frozen=True, slots=True)
class LaneLink:
    device_id: str
    lane: int
    sku: str
    unit_g: float
    low_stock: int
    capacity: int | None
    linked_at: datetime
    linked_by: str


@dataclass(frozen=True, slots=True)
class StoredShelfEvent:
    id: int
    kind: str
    device_id: str
    lane: int | None
    sku: str | None
    count: int | None
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class NewShelfEvent:
    """An event to record; `at` is the time of the sample (or poll) that caused it."""

    kind: str
    device_id: str
    lane: int | None
    sku: str | None
    count: int | None
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class CalibrationUpdate:
    device_id: str
    lane: int
    calibration: LaneCalibration
    source: str
    at: datetime


def _link(row: aiosqlite.Row) -> LaneLink:
    return LaneLink(
        row["device_id"],
        row["lane"],
        row["sku"],
        row["unit_g"],
        row["low_stock"],
        row["capacity"],
        datetime.fromisoformat(row["linked_at"]),
        row["linked_by"],
    )


async def _save_calibration(conn: aiosqlite.Connection, update: CalibrationUpdate) -> None:
    cal = update.calibration
    await conn.execute(
        "INSERT INTO shelf_calibrations"
        " (device_id, lane, tare_g, unit_g, noise_g, source, document, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, lane) DO UPDATE SET"
        " tare_g = excluded.tare_g, unit_g = excluded.unit_g, noise_g = excluded.noise_g,"
        " source = excluded.source, document = excluded.document,"
        " updated_at = excluded.updated_at",
        (
            update.device_id,
            update.lane,
            cal.tare_g,
            cal.unit_g,
            cal.noise_g,
            update.source,
            cal.to_json(),
            update.at.isoformat(),
        ),
    )


async def link_lane(
    conn: aiosqlite.Connection,
    link: LaneLink,
    *,
    audit_detail: dict[str, Any] | None = None,
) -> LaneCalibration:
    """Link a lane to an item (replacing its item), audited; returns the lane's calibration:
    the tare and noise it had, the new item's unit weight, low-stock level and capacity."""
    async with transaction(conn):
        # The lane counts again from its next stable level: its old count and alerts go.
        await run_unit(
            conn, forget_lane_in, link.device_id, link.lane, link.linked_by, link.linked_at
        )
        await conn.execute(
            "INSERT INTO shelf_lanes"
            " (device_id, lane, sku, unit_g, low_stock, capacity, linked_at, linked_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, lane) DO UPDATE SET"
            " sku = excluded.sku, unit_g = excluded.unit_g, low_stock = excluded.low_stock,"
            " capacity = excluded.capacity, linked_at = excluded.linked_at,"
            " linked_by = excluded.linked_by",
            (
                link.device_id,
                link.lane,
                link.sku,
                link.unit_g,
                link.low_stock,
                link.capacity,
                link.linked_at.isoformat(),
                link.linked_by,
            ),
        )
        before = await calibration_of(conn, link.device_id, link.lane)
        fields: dict[str, Any] = {
            "unit_g": link.unit_g,
            "low_stock": link.low_stock,
            "capacity": link.capacity or 0,
            "unit_source": UnitSource.CATALOG,
            "unit_observations": 0,
        }
        cal = LaneCalibration(**fields) if before is None else replace(before, **fields)
        await _save_calibration(
            conn, CalibrationUpdate(link.device_id, link.lane, cal, "linked", link.linked_at)
        )
        await append_audit(
            conn,
            at=link.linked_at,
            actor=link.linked_by,
            action="shelf.link",
            target=f"shelf:{link.device_id}/{link.lane}",
            detail={
                "sku": link.sku,
                "unit_g": link.unit_g,
                "low_stock": link.low_stock,
                "capacity": link.capacity,
            }
            | (audit_detail or {}),
        )
    return cal


async def unlink_lane(
    conn: aiosqlite.Connection, device_id: str, lane: int, *, at: datetime, actor: str
) -> LaneLink | None:
    """Unlink a lane (its calibration stays), audited; the link it had, None if none."""
    async with transaction(conn):
        before = await lane_link(conn, device_id, lane)
        if before is None:
            return None
        await conn.execute(
            "DELETE FROM shelf_lanes WHERE device_id = ? AND lane = ?", (device_id, lane)
        )
        await run_unit(conn, forget_lane_in, device_id, lane, actor, at)
        await append_audit(
            conn,
            at=at,
            actor=actor,
            action="shelf.unlink",
            target=f"shelf:{device_id}/{lane}",
            detail={"sku": before.sku},
        )
    return before


async def lane_link(conn: aiosqlite.Connection, device_id: str, lane: int) -> LaneLink | None:
    async with conn.execute(
        "SELECT * FROM shelf_lanes WHERE device_id = ? AND lane = ?", (device_id, lane)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _link(row)


async def lane_links(conn: aiosqlite.Connection, device_id: str | None = None) -> list[LaneLink]:
    """Every linked lane (of one sensor), by sensor and lane."""
    query = "SELECT * FROM shelf_lanes"
    params: tuple[str, ...] = ()
    if device_id is not None:
        query, params = query + " WHERE device_id = ?", (device_id,)
    async with conn.execute(query + " ORDER BY device_id, lane", params) as cursor:
        rows = await cursor.fetchall()
    return [_link(row) for row in rows]


async def calibration_of(
    conn: aiosqlite.Connection, device_id: str, lane: int
) -> LaneCalibration | None:
    async with conn.execute(
        "SELECT document FROM shelf_calibrations WHERE device_id = ? AND lane = ?",
        (device_id, lane),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else LaneCalibration.from_json(row["document"])


async def calibrations(
    conn: aiosqlite.Connection, device_id: str | None = None
) -> dict[tuple[str, int], tuple[LaneCalibration, str, datetime]]:
    """(device, lane) -> (calibration, its source, when it was saved)."""
    query = "SELECT device_id, lane, document, source, updated_at FROM shelf_calibrations"
    params: tuple[str, ...] = ()
    if device_id is not None:
        query, params = query + " WHERE device_id = ?", (device_id,)
    async with conn.execute(query, params) as cursor:
        rows = await cursor.fetchall()
    return {
        (row["device_id"], row["lane"]): (
            LaneCalibration.from_json(row["document"]),
            row["source"],
            datetime.fromisoformat(row["updated_at"]),
        )
        for row in rows
    }


async def record_shelf_events(
    conn: aiosqlite.Connection,
    events: Sequence[NewShelfEvent],
    updates: Sequence[CalibrationUpdate] = (),
    stock: Sequence[LaneStock] = (),
    alerts: Sequence[AlertChange] = (),
    *,
    at: datetime | None = None,
) -> StockOutcome:
    """Events, calibration changes, lane counts and alert changes of a batch of reports, in one
    transaction (state/stock_repo.py: what the counts change)."""
    if not events and not updates and not stock and not alerts:
        return StockOutcome(0, 0, ())
    when = at or max([e.at for e in events] + [c.at for c in stock] + [u.at for u in updates])
    async with transaction(conn):
        await conn.executemany(
            "INSERT INTO shelf_events (kind, device_id, lane, sku, count, detail, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.kind,
                    e.device_id,
                    e.lane,
                    e.sku,
                    e.count,
                    json.dumps(e.detail, sort_keys=True),
                    e.at.isoformat(),
                )
                for e in events
            ],
        )
        for update in updates:
            await _save_calibration(conn, update)
        return await run_unit(conn, apply_stock_in, tuple(stock), tuple(alerts), when)


async def save_calibration(conn: aiosqlite.Connection, update: CalibrationUpdate) -> None:
    async with transaction(conn):
        await _save_calibration(conn, update)


def _event(row: aiosqlite.Row) -> StoredShelfEvent:
    return StoredShelfEvent(
        row["id"],
        row["kind"],
        row["device_id"],
        row["lane"],
        row["sku"],
        row["count"],
        json.loads(row["detail"]),
        datetime.fromisoformat(row["at"]),
    )


async def shelf_events(
    conn: aiosqlite.Connection,
    device_id: str,
    *,
    lane: int | None = None,
    kinds: Sequence[str] = (),
    limit: int = 100,
) -> list[StoredShelfEvent]:
    """A sensor's events (of one lane, of some kinds), oldest first, the last `limit`."""
    query = "SELECT * FROM shelf_events WHERE device_id = ?"
    params: list[Any] = [device_id]
    if lane is not None:
        query += " AND lane = ?"
        params.append(lane)
    if kinds:
        query += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        params += list(kinds)
    query += " ORDER BY id DESC LIMIT ?"
    async with conn.execute(query, (*params, limit)) as cursor:
        rows = await cursor.fetchall()
    return [_event(row) for row in list(rows)[::-1]]


async def last_events(conn: aiosqlite.Connection, device_id: str) -> dict[int, StoredShelfEvent]:
    """Each lane's newest event."""
    async with conn.execute(
        "SELECT * FROM shelf_events WHERE id IN (SELECT MAX(id) FROM shelf_events"
        " WHERE device_id = ? AND lane IS NOT NULL GROUP BY lane)",
        (device_id,),
    ) as cursor:
        rows = await cursor.fetchall()
    return {row["lane"]: _event(row) for row in rows}


# ---- the store's sensors, for the console ------------------------------------------------------

SENSOR_MODELS = tuple(m.value for m in ModelId if m.kind is DeviceKind.SHELF_SENSOR)


async def sensor_ids(conn: aiosqlite.Connection) -> list[str]:
    """The store's shelf sensors (adopted devices of a shelf-sensor model), by id."""
    marks = ", ".join("?" * len(SENSOR_MODELS))
    async with conn.execute(
        f"SELECT device_id FROM devices WHERE adopted = 1 AND model IN ({marks})"  # noqa: S608
        " ORDER BY device_id",
        SENSOR_MODELS,
    ) as cursor:
        rows = await cursor.fetchall()
    return [row[0] for row in rows]
