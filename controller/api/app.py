"""The FastAPI application: its lifespan owns the controller, routers are split by concern.

Given a controller (tests, an embedding process), the app uses it as it is; otherwise the lifespan
starts one with `running_controller(settings)` and stops it on shutdown. Nothing is global: the
controller and the settings live on `app.state` and reach routes through `deps.py`.

The store console (`controller/console`) is served by the same app. It shows what labels display
from `app.state.display`: by default `ReportedImages` (the planes whose hash each label reports);
the demo passes a source reading the simulator's panels. `demo=True` enables the console's
"change a price as HQ would" form.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse

from controller.api import devices, items, labels, scans, tokens
from controller.api.deps import authenticated
from controller.console import console_router, mount_static
from controller.display import DisplaySource, ReportedImages
from controller.operations import NotFound, OperationRefused
from controller.runtime import Controller
from controller.service import running_controller
from controller.settings import Settings
from controller.state.tokens_repo import TokenNameTaken

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    *,
    controller: Controller | None = None,
    display: DisplaySource | None = None,
    demo: bool = False,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.demo = demo
        if controller is not None:
            app.state.controller = controller
            app.state.display = display or ReportedImages(controller.conn)
            yield
            return
        async with running_controller(settings) as started:
            app.state.controller = started
            app.state.display = display or ReportedImages(started.conn)
            yield

    app = FastAPI(
        title="omnishelf controller",
        version="1",
        summary="Store staff's API: catalog items, labels, devices, audits, tokens",
        lifespan=lifespan,
    )
    # Set here too, so that an app whose lifespan is not entered still answers with errors
    # rather than AttributeErrors (and so that tests may skip the lifespan).
    app.state.settings = settings
    app.state.demo = demo
    if controller is not None:
        app.state.controller = controller
        app.state.display = display or ReportedImages(controller.conn)

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authenticated)])
    for module in (items, labels, devices, tokens):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(scans.router)
    app.include_router(console_router())
    mount_static(app)
    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Staff operations' refusals become HTTP answers whose `detail` says why."""

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(OperationRefused)
    async def refused(_: Request, exc: OperationRefused) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(TokenNameTaken)
    async def taken(_: Request, exc: TokenNameTaken) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)
