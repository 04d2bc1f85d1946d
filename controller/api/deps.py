"""What routes depend on, as `Annotated` aliases: the running controller, the settings, and the
caller's token checked against the role the route needs.

Authentication (RFC 6750): a missing, unknown or revoked bearer token is 401 with
`WWW-Authenticate: Bearer`; a valid token whose role is too low is 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controller.runtime import Controller
from controller.settings import Settings
from controller.state.tokens_repo import ApiToken, Role, token_for


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
    controller: ControllerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    """The caller's active token (any role)."""
    if credentials is None:
        raise _unauthorized("an 'Authorization: Bearer <token>' header is required")
    token = await token_for(controller.conn, credentials.credentials)
    if token is None:
        raise _unauthorized("the token is unknown or revoked")
    return token


def _requires(role: Role) -> Callable[[ApiToken], Awaitable[ApiToken]]:
    async def check(token: Annotated[ApiToken, Depends(authenticated)]) -> ApiToken:
        if not token.role.allows(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the {role} role; token {token.name!r} is {token.role}",
            )
        return token

    return check


Viewer = Annotated[ApiToken, Depends(_requires(Role.VIEWER))]
Staff = Annotated[ApiToken, Depends(_requires(Role.STAFF))]
Admin = Annotated[ApiToken, Depends(_requires(Role.ADMIN))]
