"""The console's Jinja2 environment and the context every page gets (user, CSRF token, demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from controller.display import DisplaySource
from controller.runtime import Controller
from controller.state.tokens_repo import ApiToken, Role

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

# Security headers (CSP, framing, ...) are added to every answer by
# controller/api/security_headers.py.


def render(
    request: Request,
    template: str,
    user: ApiToken | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A page; `can_act` says whether the user's role may use its buttons (staff and admin)."""
    base = {
        "user": user,
        "can_act": user is not None and user.role.allows(Role.STAFF),
        "csrf": getattr(request.state, "csrf", ""),
        "demo": bool(getattr(request.app.state, "demo", False)),
        "store": request.app.state.settings.store_id,
    }
    return TEMPLATES.TemplateResponse(request, template, base | context, status_code=status_code)


def display_of(request: Request) -> DisplaySource:
    source: DisplaySource = request.app.state.display
    return source


def controller_of(request: Request) -> Controller:
    controller: Controller = request.app.state.controller
    return controller
