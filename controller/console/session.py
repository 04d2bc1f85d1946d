"""Who is using the console: the API token given at /login, kept in a session cookie.

The cookie holds the token itself (HttpOnly, SameSite=Strict, Secure over HTTPS) and every request
looks it up again with `token_for`, so revoking the token ends the session at once and the
controller keeps no session table (it stores only tokens' hashes; see tokens_repo).

Cross-site request forgery: SameSite=Strict already keeps browsers from sending the cookie with a
request started by another site. It does not cover another *origin* of the same site (another
port or host name on the store's network counts as same-site), nor browsers that ignore SameSite.
So every state-changing request must also carry a CSRF token: a synchronizer token derived from
the session (HMAC of a fixed label keyed by the token's hash), put in each form as a hidden field
and, for the few fetch() calls, sent as the `X-CSRF-Token` header. Another origin can neither
read it (the same-origin policy) nor derive it (it does not know the session token). A token
rather than a custom-header-only check keeps plain HTML forms working without JavaScript.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, HTTPException, Request, status

from controller.api.deps import ControllerDep
from controller.state.tokens_repo import ApiToken, Role, token_for, token_hash

COOKIE = "omnishelf_console"
CSRF_HEADER = "X-CSRF-Token"
SESSION_MAX_AGE_S = 12 * 3600  # a shift; the token itself may live longer


def csrf_token(session: str) -> str:
    """The CSRF token of a session: stable for the session, useless without it."""
    return hmac.new(token_hash(session), b"omnishelf-console-csrf", hashlib.sha256).hexdigest()


def login_redirect(request: Request) -> HTTPException:
    """A 303 to the login page that comes back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(
        status.HTTP_303_SEE_OTHER, headers={"Location": f"/login?next={quote(target, safe='')}"}
    )


async def console_user(request: Request, controller: ControllerDep) -> ApiToken:
    """The signed-in user (any role); anyone else is sent to the login page."""
    session = request.cookies.get(COOKIE)
    token = None if not session else await token_for(controller.conn, session)
    if token is None:
        raise login_redirect(request)
    request.state.csrf = csrf_token(session or "")
    return token


User = Annotated[ApiToken, Depends(console_user)]


async def checked_staff(
    request: Request,
    user: User,
    csrf: Annotated[str | None, Form()] = None,
) -> ApiToken:
    """A state-changing request: a staff user (or admin) whose request carries the CSRF token."""
    sent = csrf or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent, request.state.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="missing or wrong CSRF token")
    if not user.role.allows(Role.STAFF):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this needs the staff role; {user.name!r} is {user.role}",
        )
    return user


StaffUser = Annotated[ApiToken, Depends(checked_staff)]
