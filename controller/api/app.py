"""The FastAPI application: its lifespan owns the controller, routers are split by concern.

Given a controller (tests, an embedding process), the app uses it as it is; otherwise the lifespan
starts one with `running_controller(settings)` and stops it on shutdown. Nothing is global: the
controller and the settings live on `app.state` and reach routes through `deps.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse

from controller.api import devices, items, labels, scans, tokens
from controller.api.deps import authenticated
from controller.operations import NotFound, OperationRefused
from controller.runtime import Controller
from controller.service import running_controller
from controller.settings import Settings
from controller.state.tokens_repo import TokenNameTaken

API_PREFIX = "/api/v1"


def create_app(settings: Settings, *, controller: Controller | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        if controller is not None:
            app.state.controller = controller
            yield
            return
        async with running_controller(settings) as started:
            app.state.controller = started
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
    if controller is not None:
        app.state.controller = controller

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authenticated)])
    for module in (items, labels, devices, tokens):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(scans.router)
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
