"""Devices' availability and health: births, deaths, telemetry, problems, and the lists staff
filter (offline, low battery, failed, weak signal).

Sessions order a device's births and deaths (PROTOCOL.md §4.6): a Death for an older session
than the latest Birth is stale (the broker delivered the old connection's Will late) and does
not mark the device offline. A live Birth is always taken, even with a lower session than the
one stored: MQTT delivers one client's messages in order, so a lower session means the device
restarted its counter (a replaced or factory-reset unit), and ignoring it would leave the
device unmanaged for good. A retained Birth replayed at subscribe time is taken only if it is
not older: a label that moved to another access point leaves its old Birth retained under the
old one, and the broker replays both in no particular order.

Availability (§4.6): `alive` is what the device's own latest Birth and Death say; `online`, what
everything else reads, is alive *and* reachable: a proxied label is offline while its access
point is. An access point's Death takes its labels offline with it (their pushes wait), and its
Birth brings back those still alive and makes their waiting pushes due.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from controller.state.database import in_chunks, transaction
from controller.state.devices_repo import Device, _device, is_access_point
from controller.state.units import run_read, run_unit

LOW_BATTERY_MV = 2400
WEAK_RSSI_DBM = -85


@dataclass(frozen=True, slots=True)
class BirthFacts:
    gateway_id: str
    model: int
    session: int
    firmware: str
    battery_mv: int
    max_packet: int
    pages: int
    checkin_s: int


# Behind an access point, a device is reachable only while the access point is online (a
# replayed Birth may come after the access point's Death); an unknown gateway is not this
# statement's to judge (controller/gateways.py admitted the Birth). ?12: the device changed kind,
# its adoption is decided again.
BIRTH_UPSERT = (
    "INSERT INTO devices (device_id, model, gateway_id, adopted, firmware, session,"
    " online, alive, battery_mv, last_seen, max_packet, pages, checkin_s)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?3 = ?1 THEN 1 ELSE"
    " COALESCE((SELECT g.online FROM devices g WHERE g.device_id = ?3), 1) END,"
    " 1, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (device_id) DO UPDATE SET"
    " model = excluded.model, gateway_id = excluded.gateway_id, adopted = CASE WHEN ?12"
    " THEN excluded.adopted ELSE MAX(devices.adopted, excluded.adopted) END,"
    " firmware = excluded.firmware, session = excluded.session,"
    " online = excluded.online, alive = 1,"
    " battery_mv = excluded.battery_mv,"
    " last_seen = excluded.last_seen, max_packet = excluded.max_packet,"
    " pages = excluded.pages, checkin_s = excluded.checkin_s"
)


def birth_row(
    device_id: str, facts: BirthFacts, at: datetime, *, adopt: bool, reset_adoption: bool
) -> tuple[object, ...]:
    """BIRTH_UPSERT's parameters."""
    return (
        device_id,
        facts.model,
        facts.gateway_id,
        int(adopt),
        facts.firmware,
        facts.session,
        facts.battery_mv,
        at.isoformat(),
        facts.max_packet,
        facts.pages,
        facts.checkin_s,
        int(reset_adoption),
    )


async def record_birth(
    conn: aiosqlite.Connection,
    device_id: str,
    facts: BirthFacts,
    at: datetime,
    *,
    adopt: bool,
    replayed: bool = False,
    reset_adoption: bool = False,
    stored_session: int | None = None,
) -> Device | None:
    """The device is online in `facts.session`; None for a replayed Birth older than the one
    stored. `reset_adoption`: the adoption is `adopt`, not kept from before (the device changed
    its kind: an adopted label that now says it is an access point is not an adopted one).
    `stored_session`: the caller read the device already (0: not registered), one query less
    in a store's birth storm."""
    async with transaction(conn):
        if replayed and stored_session is None:
            async with conn.execute(
                "SELECT session FROM devices WHERE device_id = ?", (device_id,)
            ) as cursor:
                row = await cursor.fetchone()
            stored_session = None if row is None else int(row["session"])
        if replayed and stored_session is not None and facts.session < stored_session:
            return None
        async with conn.execute(
            BIRTH_UPSERT + " RETURNING *",
            birth_row(device_id, facts, at, adopt=adopt, reset_adoption=reset_adoption),
        ) as cursor:
            stored = await cursor.fetchone()
        if facts.gateway_id == device_id and is_access_point(facts.model):
            await run_unit(conn, devices_behind_back, device_id, at)
    return None if stored is None else _device(stored)


def devices_behind_back(db: sqlite3.Connection, gateway_id: str, at: datetime) -> None:
    """A gateway was born: the devices behind it that are alive are reachable again, and their
    pushes put off while they were not are due now."""
    cursor = db.execute(
        "UPDATE devices SET online = alive WHERE gateway_id = ? AND device_id != ?"
        " AND online != alive",
        (gateway_id, gateway_id),
    )
    if cursor.rowcount > 0:
        now = at.isoformat()
        db.execute(
            "UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ? AND device_id IN"
            " (SELECT device_id FROM devices WHERE gateway_id = ? AND device_id != ?"
            " AND online = 1)",
            (now, now, gateway_id, gateway_id),
        )


def death(db: sqlite3.Connection, device_id: str, session: int, at: datetime) -> bool:
    """Mark the device offline unless the Death is for an older session than its latest; the
    devices behind it (an access point's labels) become unreachable with it."""
    cursor = db.execute(
        "UPDATE devices SET online = 0, alive = 0, last_seen = ?"
        " WHERE device_id = ? AND session <= ?",
        (at.isoformat(), device_id, session),
    )
    if cursor.rowcount == 0:
        return False
    db.execute(
        "UPDATE devices SET online = 0 WHERE gateway_id = ? AND device_id != ?",
        (device_id, device_id),
    )
    return True


def telemetry(
    db: sqlite3.Connection, device_id: str, *, battery_mv: int, rssi: int, at: datetime
) -> bool:
    """False when the device is unknown (the controller then asks it for a Birth)."""
    cursor = db.execute(
        "UPDATE devices SET battery_mv = ?, rssi = ?, last_seen = ? WHERE device_id = ?",
        (battery_mv, rssi, at.isoformat(), device_id),
    )
    return cursor.rowcount > 0


def alive(db: sqlite3.Connection, device_id: str, at: datetime) -> bool:
    """The device spoke: online and seen now; False when it is unknown."""
    cursor = db.execute(
        "UPDATE devices SET last_seen = ?, online = 1, alive = 1 WHERE device_id = ?",
        (at.isoformat(), device_id),
    )
    return cursor.rowcount > 0


async def record_death(
    conn: aiosqlite.Connection, device_id: str, session: int, at: datetime
) -> bool:
    """`death` as its own unit of work."""
    return await run_unit(conn, death, device_id, session, at)


async def record_telemetry(
    conn: aiosqlite.Connection, device_id: str, *, battery_mv: int, rssi: int, at: datetime
) -> bool:
    """`telemetry` as its own unit of work."""
    return await run_unit(conn, telemetry, device_id, battery_mv=battery_mv, rssi=rssi, at=at)


async def seen(conn: aiosqlite.Connection, device_id: str, at: datetime) -> bool:
    return await run_unit(conn, alive, device_id, at)


async def set_problem(
    conn: aiosqlite.Connection, device_id: str, problem: str | None, at: datetime
) -> None:
    """Record a failure (counted) or clear the device's problem (None)."""
    async with transaction(conn):
        if problem is None:
            await conn.execute(
                "UPDATE devices SET problem = NULL, problem_at = NULL WHERE device_id = ?",
                (device_id,),
            )
        else:
            await conn.execute(
                "UPDATE devices SET problem = ?, problem_at = ?, failures = failures + 1"
                " WHERE device_id = ?",
                (problem, at.isoformat(), device_id),
            )


async def having_problem(
    conn: aiosqlite.Connection, device_ids: Sequence[str], prefix: str
) -> list[str]:
    """Those of `device_ids` whose problem starts with `prefix`, in one hop (a push round asks
    this of every label a batch of reports settled; few have one)."""
    if not device_ids:
        return []
    return await run_read(conn, _having_problem, tuple(device_ids), prefix)


def _having_problem(db: sqlite3.Connection, device_ids: tuple[str, ...], prefix: str) -> list[str]:
    found: list[str] = []
    for part, marks in in_chunks(device_ids):
        query = (
            f"SELECT device_id FROM devices WHERE device_id IN ({marks})"  # noqa: S608
            " AND substr(problem, 1, ?) = ?"
        )
        rows = db.execute(query, (*part, len(prefix), prefix)).fetchall()
        found += [row[0] for row in rows]
    return found


async def adopt(conn: aiosqlite.Connection, device_id: str) -> bool:
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE devices SET adopted = 1 WHERE device_id = ?", (device_id,)
        )
    return cursor.rowcount > 0


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """Staff's device lists; every condition given must hold."""

    offline: bool | None = None
    low_battery: bool | None = None  # below LOW_BATTERY_MV (mains-powered devices report 0)
    failed: bool | None = None  # an unresolved problem
    weak_signal: bool | None = None  # RSSI below WEAK_RSSI_DBM
    adopted: bool | None = None
    location_prefix: str | None = None


def _where(filters: DeviceFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.offline is not None:
        clauses.append("online = ?")
        params.append(0 if filters.offline else 1)
    if filters.low_battery is not None:
        low = "(battery_mv > 0 AND battery_mv < ?)"
        clauses.append(low if filters.low_battery else f"NOT COALESCE({low}, 0)")
        params.append(LOW_BATTERY_MV)
    if filters.failed is not None:
        clauses.append("problem IS NOT NULL" if filters.failed else "problem IS NULL")
    if filters.weak_signal is not None:
        weak = "(rssi IS NOT NULL AND rssi < ?)"
        clauses.append(weak if filters.weak_signal else f"NOT {weak}")
        params.append(WEAK_RSSI_DBM)
    if filters.adopted is not None:
        clauses.append("adopted = ?")
        params.append(int(filters.adopted))
    if filters.location_prefix is not None:
        clauses.append("location LIKE ? ESCAPE '\\'")
        escaped = filters.location_prefix.replace("\\", "\\\\").replace("%", "\\%")
        params.append(escaped.replace("_", "\\_") + "%")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


async def list_devices(
    conn: aiosqlite.Connection, filters: DeviceFilter, *, limit: int = 100, offset: int = 0
) -> list[Device]:
    where, params = _where(filters)
    async with conn.execute(
        f"SELECT * FROM devices{where} ORDER BY device_id LIMIT ? OFFSET ?",  # noqa: S608
        (*params, limit, offset),
    ) as cursor:
        rows = await cursor.fetchall()
    return [_device(row) for row in rows]


async def count_devices(conn: aiosqlite.Connection, filters: DeviceFilter) -> int:
    where, params = _where(filters)
    async with conn.execute(f"SELECT COUNT(*) FROM devices{where}", params) as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return int(row[0]) if row else 0
