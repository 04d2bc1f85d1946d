"""Signing in with an API token (the API's roles apply), and signing out.

Signing in opens a console session (session.py); the cookie names the session, not the token.
A failed sign-in is counted against the client's address (gate.py answers 429 past the limit)
and written to the audit log (bounded, see controller/api/denials.py). Logging out ends the
session on the server, so a copy of the old cookie no longer works.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.console.session import COOKIE, SESSION_MAX_AGE_S
from controller.console.templating import render
from controller.state.sessions_repo import end_session, open_session
from controller.state.tokens_repo import token_for

if TYPE_CHECKING:  # gate.py imports this package (the cookie's name)
    from controller.api.gate import EdgeGuard

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path on this console: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", None, next=_safe_next(next), login_error=None)


@router.post("/login")
async def login(
    request: Request,
    controller: ControllerDep,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    found = await token_for(controller.conn, token.strip())
    if found is None:
        edge: EdgeGuard = request.app.state.edge
        address = request.client.host if request.client else "unknown"
        edge.failures.take(address)
        await edge.denials.record(
            controller.conn,
            controller.clock,
            actor="anonymous",
            action="console.login_failed",
            client=address,
            detail={},
        )
        return render(
            request,
            "login.html",
            None,
            status_code=status.HTTP_401_UNAUTHORIZED,
            next=_safe_next(next),
            login_error="That token is unknown or revoked.",
        )
    session = await open_session(controller.conn, found, at=controller.clock())
    answer = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    answer.set_cookie(
        COOKIE,
        session,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


def too_many_attempts(request: Request, wait_s: float) -> Response:
    """The login page again, saying how long to wait (the gate refuses before the form is read:
    a person sees a page, not JSON)."""
    seconds = max(1, math.ceil(wait_s))
    answer = render(
        request,
        "login.html",
        None,
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        next=_safe_next(request.query_params.get("next")),
        login_error=f"Too many sign-in attempts from this device. Try again in {seconds} s.",
    )
    answer.headers["Retry-After"] = str(seconds)
    return answer


@router.post("/logout")
async def logout(request: Request, controller: ControllerDep) -> Response:
    # No CSRF check: the worst another origin can do is sign the user out.
    session = request.cookies.get(COOKIE)
    if session:
        await end_session(controller.conn, session, at=controller.clock())
    answer = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return answer
