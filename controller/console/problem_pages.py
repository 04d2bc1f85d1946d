"""Problem lists (offline, failed updates, low battery, weak signal, unconfirmed images) with a
bulk relabel of the selected labels, and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.console.session import StaffUser, User
from controller.console.templating import render
from controller.console.wall import WallLabel, wall_labels
from controller.operations import OperationRefused, RelabelTarget
from controller.state.audit_repo import audit_entries
from controller.state.devices_repo import Device
from controller.state.fleet_repo import DeviceFilter, list_devices

router = APIRouter()

KINDS = {
    "offline": ("Offline", DeviceFilter(offline=True, adopted=True)),
    "failed": ("Failed updates", DeviceFilter(failed=True, adopted=True)),
    "low_battery": ("Low battery", DeviceFilter(low_battery=True, adopted=True)),
    "weak_signal": ("Weak signal", DeviceFilter(weak_signal=True, adopted=True)),
    "unconfirmed": ("Not showing their image", None),  # from the labels' state, not devices
}
MAX_LISTED = 2000


async def _problems(controller: ControllerDep, kind: str) -> list[tuple[Device, WallLabel]]:
    labels = {label.device_id: label for label in await wall_labels(controller.conn)}
    _, filters = KINDS[kind]
    if filters is None:
        filters = DeviceFilter(adopted=True)
        wanted = {id_ for id_, label in labels.items() if label.stale}
    else:
        wanted = set(labels)
    found = await list_devices(controller.conn, filters, limit=MAX_LISTED)
    return [(one, labels[one.device_id]) for one in found if one.device_id in wanted]


async def _page(
    request: Request,
    controller: ControllerDep,
    user: User,
    kind: str,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    if kind not in KINDS:
        kind = "offline"
    rows = await _problems(controller, kind)
    return render(
        request,
        "problems.html",
        user,
        status_code=status_code,
        kinds={key: title for key, (title, _) in KINDS.items()},
        kind=kind,
        rows=rows,
        done=done,
        error=error,
    )


@router.get("/problems")
async def problems(
    request: Request,
    controller: ControllerDep,
    user: User,
    kind: Annotated[str, Query(max_length=20)] = "offline",
    relabelled: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
) -> Response:
    done = None if relabelled is None else f"Relabel queued for {relabelled} labels."
    return await _page(request, controller, user, kind, done=done)


@router.post("/problems/relabel")
async def bulk_relabel(
    request: Request,
    controller: ControllerDep,
    user: StaffUser,
    kind: Annotated[str, Form(max_length=20)] = "offline",
    device: Annotated[list[str] | None, Form()] = None,
) -> Response:
    chosen = tuple(dict.fromkeys(device or ()))
    if not chosen:
        return await _page(
            request,
            controller,
            user,
            kind,
            error="Select at least one label.",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    try:
        count = await controller.operations.relabel(
            RelabelTarget(device_ids=chosen), actor=user.name
        )
    except OperationRefused as exc:
        return await _page(
            request, controller, user, kind, error=str(exc), status_code=status.HTTP_409_CONFLICT
        )
    return RedirectResponse(
        f"/problems?kind={kind if kind in KINDS else 'offline'}&relabelled={count}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.get("/audit")
async def audit(
    request: Request,
    controller: ControllerDep,
    user: User,
    target: Annotated[str, Query(max_length=120)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    entries = await audit_entries(controller.conn, target=target.strip() or None, limit=limit)
    return render(request, "audit.html", user, entries=entries, target=target.strip())
