"""The device registry and the label↔item bindings.

Devices enter the registry from their births but are only managed once adopted: a device that
is not on the store's allowlist (or adopted by staff) is listed, never pushed to. A binding says
which item, template and page a label shows; a label shows one item at a time, and an item may
be on many labels (shelf edge, end cap, fridge door).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from controller.errors import ControllerError
from controller.state.database import in_chunks, transaction
from firmware_protocol.models import DeviceKind, ModelId


class UnknownDevice(ControllerError):
    """The device id is not in the registry (it never sent a birth and was not pre-registered)."""


@dataclass(frozen=True, slots=True)
class Binding:
    device_id: str
    sku: str
    template: str | None
    page: int
    linked_at: datetime
    linked_by: str


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    model: int
    gateway_id: str
    adopted: bool
    online: bool
    session: int
    firmware: str | None
    battery_mv: int | None
    rssi: int | None
    last_seen: datetime | None
    max_packet: int = 1024
    pages: int = 1
    checkin_s: int = 0
    location: str | None = None
    problem: str | None = None
    problem_at: datetime | None = None
    failures: int = 0


async def register_device(
    conn: aiosqlite.Connection,
    device_id: str,
    *,
    model: int,
    gateway_id: str,
    adopted: bool = False,
) -> None:
    """Add a device (from a birth or an allowlist); an existing one keeps its adoption."""
    async with transaction(conn):
        await conn.execute(
            "INSERT INTO devices (device_id, model, gateway_id, adopted) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET model = excluded.model,"
            " gateway_id = excluded.gateway_id, adopted = MAX(devices.adopted, excluded.adopted)",
            (device_id, model, gateway_id, int(adopted)),
        )


def is_access_point(model_id: int) -> bool:
    """Whether a registered model number is an access point's (one that may carry others)."""
    try:
        return ModelId(model_id).kind is DeviceKind.ACCESS_POINT
    except ValueError:
        return False


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _device(row: aiosqlite.Row) -> Device:
    return Device(
        device_id=row["device_id"],
        model=row["model"],
        gateway_id=row["gateway_id"],
        adopted=bool(row["adopted"]),
        online=bool(row["online"]),
        session=row["session"],
        firmware=row["firmware"],
        battery_mv=row["battery_mv"],
        rssi=row["rssi"],
        last_seen=_time(row["last_seen"]),
        max_packet=row["max_packet"],
        pages=row["pages"],
        checkin_s=row["checkin_s"],
        location=row["location"],
        problem=row["problem"],
        problem_at=_time(row["problem_at"]),
        failures=row["failures"],
    )


async def device(conn: aiosqlite.Connection, device_id: str) -> Device | None:
    async with conn.execute("SELECT * FROM devices WHERE device_id = ?", (device_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _device(row)


async def devices_by_id(conn: aiosqlite.Connection, device_ids: list[str]) -> dict[str, Device]:
    """The registered devices among `device_ids`, in a few queries whatever their number."""
    found: dict[str, Device] = {}
    for part, marks in in_chunks(device_ids):
        query = f"SELECT * FROM devices WHERE device_id IN ({marks})"  # noqa: S608
        async with conn.execute(query, part) as cursor:
            for row in await cursor.fetchall():
                found[row["device_id"]] = _device(row)
    return found


async def bind(
    conn: aiosqlite.Connection,
    device_id: str,
    sku: str,
    *,
    template: str | None,
    page: int,
    at: datetime,
    actor: str,
    location: str | None = None,
) -> Binding:
    """Link a label to an item (replacing what it showed before); `location`: where it hangs."""
    async with transaction(conn):
        async with conn.execute(
            "SELECT adopted FROM devices WHERE device_id = ?", (device_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise UnknownDevice(f"no device {device_id!r} in the registry")
        await conn.execute(
            "INSERT INTO bindings (device_id, sku, template, page, linked_at, linked_by)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
            " sku = excluded.sku, template = excluded.template, page = excluded.page,"
            " linked_at = excluded.linked_at, linked_by = excluded.linked_by",
            (device_id, sku, template, page, at.isoformat(), actor),
        )
        if location is not None:
            await conn.execute(
                "UPDATE devices SET location = ? WHERE device_id = ?", (location, device_id)
            )
    return Binding(device_id, sku, template, page, at, actor)


async def unbind(conn: aiosqlite.Connection, device_id: str) -> bool:
    async with transaction(conn):
        cursor = await conn.execute("DELETE FROM bindings WHERE device_id = ?", (device_id,))
    return cursor.rowcount > 0


def _binding(row: aiosqlite.Row) -> Binding:
    return Binding(
        row["device_id"],
        row["sku"],
        row["template"],
        row["page"],
        datetime.fromisoformat(row["linked_at"]),
        row["linked_by"],
    )


async def bindings_for_item(conn: aiosqlite.Connection, sku: str) -> list[Binding]:
    """The adopted labels that show `sku`: the labels a change of that item must reach."""
    async with conn.execute(
        "SELECT b.* FROM bindings b JOIN devices d USING (device_id)"
        " WHERE b.sku = ? AND d.adopted = 1 ORDER BY b.device_id",
        (sku,),
    ) as cursor:
        rows = await cursor.fetchall()
    return [_binding(row) for row in rows]


async def binding_of(conn: aiosqlite.Connection, device_id: str) -> Binding | None:
    async with conn.execute("SELECT * FROM bindings WHERE device_id = ?", (device_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _binding(row)


@dataclass(frozen=True, slots=True)
class RenderTarget:
    """What rendering a label needs to know about it: its panel and what it is linked to."""

    device_id: str
    model: int
    adopted: bool
    sku: str | None  # None: not linked
    template: str | None
    page: int


async def render_targets(
    conn: aiosqlite.Connection, device_ids: list[str]
) -> dict[str, RenderTarget]:
    """The registered devices among `device_ids` with their bindings, in a few queries."""
    found: dict[str, RenderTarget] = {}
    for part, marks in in_chunks(device_ids):
        async with conn.execute(
            "SELECT d.device_id, d.model, d.adopted, b.sku, b.template, b.page"  # noqa: S608
            " FROM devices d LEFT JOIN bindings b USING (device_id)"
            f" WHERE d.device_id IN ({marks})",
            part,
        ) as cursor:
            for row in await cursor.fetchall():
                found[row[0]] = RenderTarget(
                    row[0], row[1], bool(row[2]), row[3], row[4], row[5] if row[5] else 1
                )
    return found
