"""How the app answers errors, and the error answers its OpenAPI document lists.

- Staff operations' refusals: `NotFound` 404, `OperationRefused` and `TokenNameTaken` 409, with
  a `detail` that says why.
- Validation (422): each problem's location, message and type, never the input: an answer that
  echoed a 50,000-change batch back would cost as much as the request, and a field could carry
  what should not be copied into logs and proxies.
- The edge's own answers (body_limit.py, gate.py): 400, 401, 413, 429, `{"detail": "..."}`.

`ERROR_RESPONSES` documents every one of them on each API operation, so that a client (and the
schemathesis run in the tests) finds every status the API really gives in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from controller.console.templating import render
from controller.operations import NotFound, OperationRefused
from controller.state.tokens_repo import TokenNameTaken

MAX_MESSAGE = 300  # a message quoting an over-long value is cut
MAX_ERRORS = 50


class ErrorAnswer(BaseModel):
    """Every error but validation: why, for a person to read."""

    detail: str


class Problem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationAnswer(BaseModel):
    """A 422: each problem's location and reason (the input is never echoed)."""

    detail: list[Problem] | str


def _doc(description: str, model: type[BaseModel] = ErrorAnswer) -> dict[str, Any]:
    return {"description": description, "model": model}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("the request is malformed (e.g. an unreadable Content-Length)"),
    401: _doc("no token, or an unknown or revoked one (`WWW-Authenticate: Bearer`)"),
    403: _doc("the token's role may not do this"),
    404: _doc("the item, label or device does not exist"),
    409: _doc("refused as asked: the reason is in `detail`"),
    413: _doc("the body is larger than the route's limit (1 MiB; a batch 16 MiB)"),
    422: _doc("a parameter or the body is invalid: where and why", ValidationAnswer),
    429: _doc("too many requests from this address or token: see `Retry-After`"),
}


def _problem(error: Any) -> dict[str, Any]:
    return {
        "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", ""))[:MAX_MESSAGE],
        "type": str(error.get("type", "")),
    }


def wants_page(request: Request) -> bool:
    """A person's browser on a console page, not an API client: errors come as a page with a
    way back, not as JSON."""
    path = request.url.path
    if path.startswith(("/api/", "/q/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _error(request: Request, status_code: int, detail: str) -> Response:
    if wants_page(request):
        return render(request, "error.html", None, status_code=status_code, detail=detail)
    return JSONResponse({"detail": detail}, status_code=status_code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(OperationRefused)
    async def refused(request: Request, exc: OperationRefused) -> Response:
        return _error(request, status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(TokenNameTaken)
    async def taken(request: Request, exc: TokenNameTaken) -> Response:
        return _error(request, status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code >= 400 and wants_page(request):  # a 303 to /login stays one
            return render(
                request, "error.html", None, status_code=exc.status_code, detail=exc.detail
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_page(request):
            what = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'the form'}: {e.get('msg')}"
                for e in list(exc.errors())[:5]
            )
            return _error(request, status.HTTP_422_UNPROCESSABLE_CONTENT, what[:MAX_MESSAGE])
        errors = list(exc.errors())
        problems = [_problem(error) for error in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            problems.append(
                {"loc": [], "msg": f"and {len(errors) - MAX_ERRORS} more", "type": "truncated"}
            )
        return JSONResponse({"detail": problems}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
