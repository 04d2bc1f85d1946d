"""Signing in with an API token (the API's roles apply), and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.console.session import COOKIE, SESSION_MAX_AGE_S
from controller.console.templating import render
from controller.state.tokens_repo import token_for

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
    next: Annotated[str | None, Form()] = None,
) -> Response:
    found = await token_for(controller.conn, token.strip())
    if found is None:
        return render(
            request,
            "login.html",
            None,
            status_code=status.HTTP_401_UNAUTHORIZED,
            next=_safe_next(next),
            login_error="That token is unknown or revoked.",
        )
    answer = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    answer.set_cookie(
        COOKIE,
        token.strip(),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@router.post("/logout")
async def logout() -> Response:
    # No CSRF check: the worst another origin can do is sign the user out.
    answer = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return answer
