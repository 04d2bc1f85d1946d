"""What routes depend on, as `Annotated` aliases: the running controller, the settings, and the
caller's token checked against the role the route needs.

Authentication (RFC 6750): a missing, unknown or revoked bearer token is 401 with
`WWW-Authenticate: Bearer`; a valid token whose role is too low is 403 (in the audit log, see
denials.py). The edge (gate.py) authenticates API requests before their body is read and leaves
the token on the request's state; `authenticated` takes it from there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controller.api.denials import DenialLog
from controller.runtime import Controller
from controller.settings import Settings
from controller.state.tokens_repo import ApiToken, Role, token_for

STATE_KEY_TOKEN = "api_token"  # noqa: S105  where the edge (gate.py) leaves the checked token


def get_controller(request: Request) -> Controller:
    return cast(Controller, request.app.state.controller)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


ControllerDep = Annotated[Controller, Depends(get_controller)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(
    auto_error=False, description="An API token: `omnishelf token create NAME --role staff`"
)


def _unauthorized(why: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=why, headers={"WWW-Authenticate": "Bearer"}
    )


async def authenticated(
    request: Request,
    controller: ControllerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    """The caller's active token (any role)."""
    checked = getattr(request.state, STATE_KEY_TOKEN, None)
    if isinstance(checked, ApiToken):
        return checked
    if credentials is None:
        raise _unauthorized("an 'Authorization: Bearer <token>' header is required")
    token = await token_for(controller.conn, credentials.credentials)
    if token is None:
        raise _unauthorized("the token is unknown or revoked")
    return token


def _requires(role: Role) -> Callable[[Request, ApiToken], Awaitable[ApiToken]]:
    async def check(
        request: Request, token: Annotated[ApiToken, Depends(authenticated)]
    ) -> ApiToken:
        if not token.role.allows(role):
            await denied(request, token.name, f"needs {role}, is {token.role}")
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the {role} role; token {token.name!r} is {token.role}",
            )
        return token

    return check


async def denied(request: Request, actor: str, why: str) -> None:
    """A refused request in the audit log (bounded: DenialLog)."""
    controller = get_controller(request)
    denials: DenialLog = request.app.state.edge.denials
    await denials.record(
        controller.conn,
        controller.clock,
        actor=actor,
        action="auth.denied",
        client=request.client.host if request.client else "unknown",
        detail={"path": request.url.path[:200], "method": request.method, "why": why},
    )


Viewer = Annotated[ApiToken, Depends(_requires(Role.VIEWER))]
Staff = Annotated[ApiToken, Depends(_requires(Role.STAFF))]
Admin = Annotated[ApiToken, Depends(_requires(Role.ADMIN))]
