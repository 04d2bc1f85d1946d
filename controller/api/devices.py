"""Devices and what staff must look at: filtered device lists, adoption, the problem counts,
the price-accuracy audit (labels not showing what they should, and since when) and the audit
log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from controller.api.deps import Admin, ControllerDep, Viewer
from controller.state.audit_repo import audit_entries
from controller.state.devices_repo import Device
from controller.state.fleet_repo import DeviceFilter, count_devices, list_devices
from controller.state.labels_repo import unconfirmed_labels

router = APIRouter()


class DeviceView(BaseModel):
    device_id: str
    model: int
    gateway_id: str
    adopted: bool
    online: bool
    firmware: str | None
    battery_mv: int | None
    rssi: int | None
    last_seen: datetime | None
    location: str | None
    problem: str | None
    problem_at: datetime | None
    failures: int

    @classmethod
    def of(cls, found: Device) -> DeviceView:
        return cls(
            device_id=found.device_id,
            model=found.model,
            gateway_id=found.gateway_id,
            adopted=found.adopted,
            online=found.online,
            firmware=found.firmware,
            battery_mv=found.battery_mv,
            rssi=found.rssi,
            last_seen=found.last_seen,
            location=found.location,
            problem=found.problem,
            problem_at=found.problem_at,
            failures=found.failures,
        )


class DeviceList(BaseModel):
    total: int  # matching the filters, beyond this page
    devices: list[DeviceView]


class Problems(BaseModel):
    """Counts over adopted devices, plus devices seen but not adopted."""

    offline: int
    low_battery: int
    failed: int
    weak_signal: int
    not_adopted: int
    unconfirmed_labels: int


class UnconfirmedLabel(BaseModel):
    device_id: str
    desired_revision: int
    desired_hash: str | None
    reported_revision: int
    reported_hash: str | None
    since: datetime | None  # when the label should have started showing the desired image


class PriceAccuracy(BaseModel):
    unconfirmed: int
    labels: list[UnconfirmedLabel]


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


Flag = Annotated[bool | None, Query()]


@router.get("/devices", tags=["devices"], summary="Devices, filtered (viewer)")
async def devices(
    *,
    controller: ControllerDep,
    _: Viewer,
    offline: Flag = None,
    low_battery: Flag = None,
    failed: Flag = None,
    weak_signal: Flag = None,
    adopted: Flag = None,
    location: Annotated[str | None, Query(description="a location prefix: 'aisle 3'")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> DeviceList:
    filters = DeviceFilter(
        offline=offline,
        low_battery=low_battery,
        failed=failed,
        weak_signal=weak_signal,
        adopted=adopted,
        location_prefix=location,
    )
    found = await list_devices(controller.conn, filters, limit=limit, offset=offset)
    return DeviceList(
        total=await count_devices(controller.conn, filters),
        devices=[DeviceView.of(d) for d in found],
    )


@router.post(
    "/devices/{device_id}/adopt",
    tags=["devices"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Adopt a device this store has seen (admin)",
)
async def adopt(device_id: str, controller: ControllerDep, token: Admin) -> None:
    await controller.operations.adopt(device_id, actor=token.name)
    await controller.fleet.adopted(device_id)  # an access point is trusted, and asked to rebirth


@router.get("/problems", tags=["devices"], summary="What needs attention, counted (viewer)")
async def problems(controller: ControllerDep, _: Viewer) -> Problems:
    conn = controller.conn
    return Problems(
        offline=await count_devices(conn, DeviceFilter(adopted=True, offline=True)),
        low_battery=await count_devices(conn, DeviceFilter(adopted=True, low_battery=True)),
        failed=await count_devices(conn, DeviceFilter(adopted=True, failed=True)),
        weak_signal=await count_devices(conn, DeviceFilter(adopted=True, weak_signal=True)),
        not_adopted=await count_devices(conn, DeviceFilter(adopted=False)),
        unconfirmed_labels=len(await unconfirmed_labels(conn)),
    )


@router.get(
    "/audit/price-accuracy",
    tags=["audit"],
    summary="Labels not reporting the image they should show, and since when (viewer)",
)
async def price_accuracy(controller: ControllerDep, _: Viewer) -> PriceAccuracy:
    labels = [
        UnconfirmedLabel(
            device_id=state.device_id,
            desired_revision=state.desired_revision,
            desired_hash=state.desired_hash.hex() if state.desired_hash else None,
            reported_revision=state.reported_revision,
            reported_hash=state.reported_hash.hex() if state.reported_hash else None,
            since=state.desired_at,
        )
        for state in await unconfirmed_labels(controller.conn)
    ]
    return PriceAccuracy(unconfirmed=len(labels), labels=labels)


@router.get("/audit/log", tags=["audit"], summary="Who changed what, newest first (viewer)")
async def audit_log(
    controller: ControllerDep,
    _: Viewer,
    target: Annotated[str | None, Query(description="'item:TR-1', 'label:lbl-00001'")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditView]:
    entries = await audit_entries(controller.conn, target=target, limit=limit)
    return [
        AuditView(
            id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, detail=e.detail
        )
        for e in entries
    ]
