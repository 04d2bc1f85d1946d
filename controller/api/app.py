"""The FastAPI application: its lifespan owns the controller, routers are split by concern.

Given a controller (tests, an embedding process), the app uses it as it is; otherwise the lifespan
starts one with `running_controller(settings)` and stops it on shutdown. Nothing is global: the
controller and the settings live on `app.state` and reach routes through `deps.py`.

The store console (`controller/console`) is served by the same app. It shows what labels display
from `app.state.display`: by default `ReportedImages` (the planes whose hash each label reports);
the demo passes a source reading the simulator's panels. `demo=True` enables the console's
"change a price as HQ would" form.

The HTTP edge, outermost first (docs/security.md, "The HTTP API and console"): security headers
on every answer (security_headers.py); the body limit, checked before anything reads a body
(body_limit.py); rate limits and authentication from the headers alone (gate.py). Errors are
answered as errors.py says, and the OpenAPI document lists them. /healthz and /readyz
(health.py) and the API docs from local files (docs.py) need no token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import cast

from fastapi import APIRouter, Depends, FastAPI

from controller.api import alerts, devices, health, items, labels, rooms, scans, shelves, tokens
from controller.api.body_limit import BodyLimit
from controller.api.deps import authenticated
from controller.api.docs import install_docs
from controller.api.errors import ERROR_RESPONSES, install_error_handlers
from controller.api.gate import EdgeGuard, Gate
from controller.api.rate_limits import EdgeLimits
from controller.api.security_headers import SecurityHeaders
from controller.console import console_router, mount_static
from controller.display import DisplaySource, ReportedImages
from controller.runtime import Controller
from controller.service import running_controller
from controller.settings import Settings

API_PREFIX = "/api/v1"
BATCH_PATH = f"{API_PREFIX}/items/batch"


def create_app(
    settings: Settings,
    *,
    controller: Controller | None = None,
    display: DisplaySource | None = None,
    demo: bool = False,
    limits: EdgeLimits | None = None,
) -> FastAPI:
    limits = limits or EdgeLimits()

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
        docs_url=None,  # docs.py serves Swagger UI from local files instead of a CDN
        redoc_url=None,
    )
    # Set here too, so that an app whose lifespan is not entered still answers with errors
    # rather than AttributeErrors (and so that tests may skip the lifespan).
    app.state.settings = settings
    app.state.demo = demo
    if controller is not None:
        app.state.controller = controller
        app.state.display = display or ReportedImages(controller.conn)

    api = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(authenticated)], responses=ERROR_RESPONSES
    )
    for module in (items, labels, devices, shelves, alerts, rooms, tokens):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(scans.router)
    app.include_router(health.router)
    app.include_router(console_router())
    mount_static(app)
    install_docs(app)
    install_error_handlers(app)

    guard = EdgeGuard.of(limits)
    app.state.edge = guard

    def limit_for(_method: str, path: str) -> int:
        return limits.batch_body_bytes if path == BATCH_PATH else limits.body_bytes

    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(
        Gate, controller_of=lambda: cast(Controller, app.state.controller), guard=guard
    )
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(SecurityHeaders)
    return app
