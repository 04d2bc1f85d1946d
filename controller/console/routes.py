"""The console's router: the store wall, its live event stream and label images, and the pages
of `login`, `item_pages`, `label_pages`, `problem_pages`, `shelf_pages`, `alert_pages`,
`sensor_pages` and `room_pages`. Every page but /login needs a signed-in user (session.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.console import (
    alert_pages,
    item_pages,
    label_pages,
    login,
    problem_pages,
    room_pages,
    sensor_pages,
    shelf_pages,
)
from controller.console.session import User
from controller.console.templating import display_of, render
from controller.console.wall import NOT_PLACED, OTHER, arrange, wall_events, wall_labels
from controller.display import planes_png
from controller.state.devices_repo import device
from controller.state.labels_repo import desired_image
from firmware_protocol.models import ModelId, model

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/console/static"
PNG_HEADERS_VERSIONED = {"Cache-Control": "private, max-age=300"}
PNG_HEADERS_LIVE = {"Cache-Control": "no-store"}

Scale = Annotated[int, Query(ge=1, le=4)]


def console_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.include_router(wall)
    modules = (
        login,
        item_pages,
        label_pages,
        problem_pages,
        shelf_pages,
        alert_pages,
        sensor_pages,
        room_pages,
    )
    for module in modules:
        router.include_router(module.router)
    return router


def mount_static(app: FastAPI) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="console-static")


wall = APIRouter()


@wall.get("/")
async def store_wall(request: Request, controller: ControllerDep, user: User) -> Response:
    labels = await wall_labels(controller.conn)
    counts = {
        mark: sum(mark in label.marks for label in labels)
        for mark in ("offline", "failed", "stale")
    }
    return render(
        request,
        "wall.html",
        user,
        aisles=arrange(labels),
        total=len(labels),
        counts=counts,
        unplaced=(OTHER, NOT_PLACED),  # no relabel-by-location link: not a real aisle
    )


@wall.get("/console/events")
async def events(controller: ControllerDep, _: User) -> StreamingResponse:
    """Server-Sent Events: the labels whose image or state changed (see wall.py)."""
    return StreamingResponse(
        wall_events(controller.conn),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _png(data: bytes, versioned: bool) -> Response:
    headers = PNG_HEADERS_VERSIONED if versioned else PNG_HEADERS_LIVE
    return Response(data, media_type="image/png", headers=headers)


@wall.get("/console/labels/{device_id}/displayed.png")
async def displayed_png(
    request: Request, device_id: str, _: User, scale: Scale = 1, v: str | None = None
) -> Response:
    """What the label displays, from the app's display source (never rendered here)."""
    shown = await display_of(request).displayed(device_id)
    if shown is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no label {device_id!r}")
    return _png(await asyncio.to_thread(shown.png, scale), v is not None)


@wall.get("/console/labels/{device_id}/desired.png")
async def desired_png(
    device_id: str, controller: ControllerDep, _: User, scale: Scale = 1, v: str | None = None
) -> Response:
    """The image the controller wants the label to show (its latest desired revision)."""
    found = await device(controller.conn, device_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no label {device_id!r}")
    try:
        panel = model(ModelId(found.model))
    except ValueError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="not a label") from exc
    if panel.palette is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="not a label")
    desired = await desired_image(controller.conn, device_id)
    planes = None if desired is None else desired.planes
    return _png(await asyncio.to_thread(planes_png, planes, panel, scale), v is not None)
