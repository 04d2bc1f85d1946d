"""Who may send a request at all, decided before the app reads its body (a pure ASGI middleware).

FastAPI reads and parses a request's body before it runs any dependency, so an authentication
dependency alone comes too late: anyone could make the controller hold and parse a body. Here,
from the headers only:

- `/api/...`: rate limits per client address, then the bearer token (401 without a known,
  active one; the address's failures are throttled: 429 past `auth_failures_per_address`), then
  per token. The token found is put on the request's state, where `deps.authenticated` takes it.
- `POST /login`: tries per address, and the address's failed sign-ins (429 past the limit).
- `/q/...` (shoppers' scans): per address and for the whole store (every scan is a row).
- any other state-changing console request: a live console session (else 303 to /login).

A refused request is answered `{"detail": ...}`; a 429 says when to come back (`Retry-After`).
Failed authentication is written to the audit log through `DenialLog` (bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from controller.api.body_limit import send_json
from controller.api.denials import DenialLog
from controller.api.deps import STATE_KEY_TOKEN
from controller.api.rate_limits import Buckets, EdgeLimits, Rate
from controller.console.login import too_many_attempts
from controller.console.session import COOKIE, STATE_KEY_CONSOLE
from controller.runtime import Controller
from controller.state.sessions_repo import session_user
from controller.state.tokens_repo import token_for

API_PATHS = ("/api/",)
SCAN_PATHS = ("/q/",)
OPEN_POSTS = frozenset({"/login", "/logout"})  # need no session (logout ends one if any)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER = "bearer "


@dataclass
class EdgeGuard:
    """The edge's buckets and its denial log, one per app (`app.state.edge`): login.py counts
    failed sign-ins in `failures` too."""

    api_address: Buckets
    api_token: Buckets
    failures: Buckets
    login: Buckets
    scan_address: Buckets
    scan_store: Buckets
    denials: DenialLog

    @classmethod
    def of(cls, limits: EdgeLimits) -> EdgeGuard:
        def buckets(rate: Rate) -> Buckets:
            return Buckets(rate, max_keys=limits.max_keys)

        return cls(
            buckets(limits.api_per_address),
            buckets(limits.api_per_token),
            buckets(limits.auth_failures_per_address),
            buckets(limits.login_per_address),
            buckets(limits.scans_per_address),
            buckets(limits.scans_per_store),
            DenialLog(limits.denial_audits),
        )


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def too_many(send: Send, wait_s: int, why: str) -> None:
    await send_json(send, 429, why, {"Retry-After": str(wait_s)})


class Gate:
    def __init__(
        self,
        app: ASGIApp,
        controller_of: Callable[[], Controller],
        guard: EdgeGuard,
    ) -> None:
        self.app = app
        self.controller_of = controller_of
        self.guard = guard
        self.failures = guard.failures
        self.denials = guard.denials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        address = client_address(scope)
        if path.startswith(API_PATHS):
            if not await self._api(scope, send, address):
                return
        elif path.startswith(SCAN_PATHS):
            if wait_s := self.guard.scan_address.take(address):
                await too_many(send, wait_s, "too many scans from this address")
                return
            if wait_s := self.guard.scan_store.take("store"):
                await too_many(send, wait_s, "too many scans in this store just now")
                return
        elif path == "/login" and method == "POST":
            wait_s = self.failures.wait_s(address) or self.guard.login.take(address)
            if wait_s:
                await too_many_attempts(Request(scope, receive), wait_s)(scope, receive, send)
                return
        elif (
            method not in SAFE_METHODS
            and path not in OPEN_POSTS
            and not await self._console_session(scope, send)
        ):
            return
        await self.app(scope, receive, send)

    async def _api(self, scope: Scope, send: Send, address: str) -> bool:
        """True when the request may go on (its token on the state); else it was answered."""
        if wait_s := self.guard.api_address.take(address):
            await too_many(send, wait_s, "too many requests from this address")
            return False
        if wait_s := self.failures.wait_s(address):
            await too_many(send, wait_s, "too many failed authentications from this address")
            return False
        authorization = Headers(scope=scope).get("authorization", "")
        presented = authorization[len(BEARER) :].strip()
        if not authorization.lower().startswith(BEARER) or not presented:
            self.failures.take(address)
            await send_json(
                send,
                401,
                "an 'Authorization: Bearer <token>' header is required",
                {"WWW-Authenticate": "Bearer"},
            )
            return False
        controller = self.controller_of()
        token = await token_for(controller.conn, presented)
        if token is None:
            self.failures.take(address)
            await self.denials.record(
                controller.conn,
                controller.clock,
                actor="anonymous",
                action="auth.failed",
                client=address,
                detail={"path": scope["path"][:200], "method": scope["method"]},
            )
            await send_json(
                send, 401, "the token is unknown or revoked", {"WWW-Authenticate": "Bearer"}
            )
            return False
        if wait_s := self.guard.api_token.take(token.name):
            await too_many(send, wait_s, f"too many requests with token {token.name!r}")
            return False
        scope.setdefault("state", {})[STATE_KEY_TOKEN] = token
        return True

    async def _console_session(self, scope: Scope, send: Send) -> bool:
        cookies = cookie_parser(Headers(scope=scope).get("cookie", ""))
        session = cookies.get(COOKIE)
        controller = self.controller_of()
        user = (
            await session_user(controller.conn, session, at=controller.clock()) if session else None
        )
        if user is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", b"/login"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return False
        scope.setdefault("state", {})[STATE_KEY_CONSOLE] = user
        return True
