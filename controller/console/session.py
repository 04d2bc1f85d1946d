"""Who is using the console: a server-side session opened at /login, named by a cookie.

Signing in with an API token opens a console session (controller/state/sessions_repo.py): the
cookie holds a random session id, never the API token, and is HttpOnly, SameSite=Strict, Secure
over HTTPS. A session expires after 4 idle hours or 12 hours in all, ends on logout (the old
cookie stops working at once), and with its token (revoking the token ends its sessions).

Cross-site request forgery: SameSite=Strict already keeps browsers from sending the cookie with a
request started by another site. It does not cover another *origin* of the same site (another
port or host name on the store's network counts as same-site), nor browsers that ignore SameSite.
So every state-changing request must also carry a CSRF token: a synchronizer token derived from
the session (HMAC of a fixed label keyed by the session id's hash), put in each form as a hidden
field and, for the few fetch() calls, sent as the `X-CSRF-Token` header. Another origin can
neither read it (the same-origin policy) nor derive it (it does not know the session id). A token
rather than a custom-header-only check keeps plain HTML forms working without JavaScript.

The edge (controller/api/gate.py) checks the session of a state-changing request before its body
is read and leaves the user on the request's state.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, HTTPException, Request, status

from controller.api.deps import ControllerDep, denied
from controller.state.sessions_repo import ABSOLUTE, session_user
from controller.state.tokens_repo import ApiToken, Role

COOKIE = "omnishelf_console"
CSRF_HEADER = "X-CSRF-Token"
SESSION_MAX_AGE_S = int(ABSOLUTE.total_seconds())
STATE_KEY_CONSOLE = "console_user"  # where the edge leaves the session's user


def csrf_token(session: str) -> str:
    """The CSRF token of a session: stable for the session, useless without it."""
    key = hashlib.sha256(session.encode("utf-8")).digest()
    return hmac.new(key, b"omnishelf-console-csrf", hashlib.sha256).hexdigest()


def login_redirect(request: Request) -> HTTPException:
    """A 303 to the login page that comes back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(
        status.HTTP_303_SEE_OTHER, headers={"Location": f"/login?next={quote(target, safe='')}"}
    )


async def console_user(request: Request, controller: ControllerDep) -> ApiToken:
    """The signed-in user (any role); anyone else is sent to the login page."""
    session = request.cookies.get(COOKIE)
    checked = getattr(request.state, STATE_KEY_CONSOLE, None)
    if isinstance(checked, ApiToken) and session:
        user: ApiToken | None = checked
    elif session:
        user = await session_user(controller.conn, session, at=controller.clock())
    else:
        user = None
    if user is None or not session:
        raise login_redirect(request)
    request.state.csrf = csrf_token(session)
    return user


User = Annotated[ApiToken, Depends(console_user)]


async def _check_csrf(request: Request, user: ApiToken, csrf: str | None) -> None:
    sent = csrf or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent.encode(), request.state.csrf.encode()):
        await denied(request, user.name, "missing or wrong CSRF token")
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="missing or wrong CSRF token")


async def checked_user(
    request: Request,
    user: User,
    csrf: Annotated[str | None, Form()] = None,
) -> ApiToken:
    """A state-changing request any role may make (a fitting room's "Call staff", which a
    viewer-signed kiosk tablet sends): the CSRF token is still required."""
    await _check_csrf(request, user, csrf)
    return user


async def checked_staff(
    request: Request,
    user: User,
    csrf: Annotated[str | None, Form()] = None,
) -> ApiToken:
    """A state-changing request: a staff user (or admin) whose request carries the CSRF token."""
    await _check_csrf(request, user, csrf)
    if not user.role.allows(Role.STAFF):
        await denied(request, user.name, f"needs staff, is {user.role}")
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this needs the staff role; {user.name!r} is {user.role}",
        )
    return user


AnyRoleUser = Annotated[ApiToken, Depends(checked_user)]
StaffUser = Annotated[ApiToken, Depends(checked_staff)]
