"""A label's page: the image it should show beside the one it displays, revisions and hashes,
its audit history, and staff's actions on it (relabel, locate, page, link, unlink).

Actions are plain HTML form posts answered with a redirect back to the page (post/redirect/get),
so a reload never repeats them; a refused action shows the page again with the reason.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.api.item_lookup import resolve_item
from controller.console.session import StaffUser, User
from controller.console.templating import render
from controller.console.wall import wall_labels
from controller.operations import NotFound, OperationRefused, RelabelTarget
from controller.state.audit_repo import audit_entries
from controller.state.devices_repo import binding_of, device
from controller.state.labels_repo import label_state
from firmware_protocol.models import ModelId, model

router = APIRouter()

DONE = {
    "relabel": "Relabel queued: the image is rendered and pushed again.",
    "page": "Page switched.",
    "link": "Linked.",
    "unlink": "Unlinked: the label is blanked.",
    "locate-ok": "The label is flashing its LED.",
    "locate-queued": "The label is asleep: it flashes its LED at its next check-in.",
}


def _model_name(model_id: int) -> str:
    try:
        return model(ModelId(model_id)).name
    except ValueError:
        return f"model {model_id}"


def _done_text(done: str | None) -> str | None:
    if not done:
        return None
    if done in DONE:
        return DONE[done]
    if done.startswith("locate-"):  # the label refused or failed: say what it answered
        return f"The label answered the locate request: {done.removeprefix('locate-')}."
    return None


async def _label_page(
    request: Request,
    device_id: str,
    controller: ControllerDep,
    user: User,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = await device(controller.conn, device_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no label {device_id!r}")
    wall_entry = next(iter(await wall_labels(controller.conn, [device_id])), None)
    return render(
        request,
        "label.html",
        user,
        status_code=status_code,
        device=found,
        model_name=_model_name(found.model),
        label=wall_entry,
        binding=await binding_of(controller.conn, device_id),
        state=await label_state(controller.conn, device_id),
        entries=await audit_entries(controller.conn, target=f"label:{device_id}", limit=50),
        done=_done_text(done),
        error=error,
    )


@router.get("/labels/{device_id}")
async def label_page(
    request: Request,
    device_id: str,
    controller: ControllerDep,
    user: User,
    done: str | None = None,
) -> Response:
    return await _label_page(request, device_id, controller, user, done=done)


def _back(device_id: str, done: str) -> Response:
    return RedirectResponse(
        f"/labels/{quote(device_id, safe='')}?done={done}", status_code=status.HTTP_303_SEE_OTHER
    )


async def _refused(
    request: Request, device_id: str, controller: ControllerDep, user: User, exc: Exception
) -> Response:
    code = status.HTTP_404_NOT_FOUND if isinstance(exc, NotFound) else status.HTTP_409_CONFLICT
    return await _label_page(request, device_id, controller, user, error=str(exc), status_code=code)


@router.post("/labels/{device_id}/relabel")
async def relabel(
    request: Request, device_id: str, controller: ControllerDep, user: StaffUser
) -> Response:
    try:
        await controller.operations.relabel(RelabelTarget(device_ids=(device_id,)), actor=user.name)
    except OperationRefused as exc:
        return await _refused(request, device_id, controller, user, exc)
    return _back(device_id, "relabel")


@router.post("/labels/{device_id}/locate")
async def locate(
    request: Request, device_id: str, controller: ControllerDep, user: StaffUser
) -> Response:
    try:
        result = await controller.operations.locate(device_id, actor=user.name)
    except OperationRefused as exc:
        return await _refused(request, device_id, controller, user, exc)
    answer = "queued" if result is None else result.status.name.lower()
    return _back(device_id, f"locate-{answer}")


@router.post("/labels/{device_id}/page")
async def switch_page(
    request: Request,
    device_id: str,
    controller: ControllerDep,
    user: StaffUser,
    page: Annotated[int, Form(ge=1, le=7)],
) -> Response:
    try:
        await controller.operations.switch_page(device_id, page, actor=user.name)
    except OperationRefused as exc:
        return await _refused(request, device_id, controller, user, exc)
    return _back(device_id, "page")


@router.post("/labels/{device_id}/link")
async def link(
    request: Request,
    device_id: str,
    *,
    controller: ControllerDep,
    user: StaffUser,
    item: Annotated[str, Form(min_length=1, max_length=64)],
    location: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    try:
        found = await resolve_item(controller.conn, item.strip())
        if found is None:
            raise NotFound(f"no item with SKU or GTIN {item.strip()!r} in the catalog")
        await controller.operations.link(  # no location given: it stays where it was
            device_id, found.sku, actor=user.name, location=location.strip() or None
        )
    except OperationRefused as exc:
        return await _refused(request, device_id, controller, user, exc)
    return _back(device_id, "link")


@router.post("/labels/{device_id}/unlink")
async def unlink(
    request: Request, device_id: str, controller: ControllerDep, user: StaffUser
) -> Response:
    try:
        await controller.operations.unlink(device_id, actor=user.name)
    except OperationRefused as exc:
        return await _refused(request, device_id, controller, user, exc)
    return _back(device_id, "unlink")
