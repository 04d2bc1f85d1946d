"""Console sessions apart from API tokens (issue 12, finding 5): the cookie names a server-side
session that expires and ends on logout; sign-ins are throttled and failures audited. Over the
real ASGI app (httpx), with an idle controller on a real SQLite database."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from controller.api.rate_limits import EdgeLimits, Rate
from controller.console.session import COOKIE
from controller.settings import Settings
from controller.state.sessions_repo import end_session, open_session, session_user
from controller.state.tokens_repo import token_for
from tests.controller.api.api_kit import T0, Api, open_api, settings_for


@pytest.fixture
def settings(tmp_path: Path, store_id: str) -> Settings:
    return settings_for(tmp_path, store_id)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app (console and API) around an idle controller: no broker, no browser."""
    async with open_api(settings) as opened:
        yield opened


async def _log_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/login", data={"token": token, "next": "/"})


async def test_finding_5_the_cookie_is_a_session_not_the_api_token(api: Api) -> None:
    """Signing in sets an HttpOnly, SameSite=Strict cookie holding a session id that is not the
    token and is stored only as its hash; the token itself as a cookie opens nothing."""
    token = api.tokens["staff"]
    answer = await _log_in(api.client, token)
    assert answer.status_code == 303
    set_cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=strict" in set_cookie or "samesite=strict" in set_cookie.lower()
    assert "Secure" not in set_cookie  # plain http here
    session = api.client.cookies[COOKIE]
    assert token not in set_cookie
    assert session != token
    async with api.controller.conn.execute("SELECT session_hash FROM console_sessions") as cursor:
        [row] = await cursor.fetchall()
    assert row[0] == hashlib.sha256(session.encode()).digest()
    assert (await api.client.get("/")).status_code == 200

    api.client.cookies.set(COOKIE, token)
    assert (await api.client.get("/")).status_code == 303


async def test_finding_5_logout_ends_the_session_on_the_server(api: Api) -> None:
    """After logout, a copy of the old cookie no longer opens any page."""
    await _log_in(api.client, api.tokens["staff"])
    kept = api.client.cookies[COOKIE]
    assert (await api.client.get("/problems")).status_code == 200
    assert (await api.client.post("/logout")).status_code == 303
    api.client.cookies.set(COOKIE, kept)
    again = await api.client.get("/problems")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")


async def test_the_cookie_is_secure_over_https(settings: Settings) -> None:
    """Served over HTTPS, the session cookie is marked Secure."""
    async with open_api(settings) as api:
        api.client.base_url = httpx.URL("https://test")
        answer = await _log_in(api.client, api.tokens["viewer"])
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


async def test_sessions_expire_when_idle_and_after_a_shift(api: Api) -> None:
    """A session lives 4 idle hours and 12 hours at most; revoking the token ends it too."""
    conn = api.controller.conn
    staff = await token_for(conn, api.tokens["staff"])
    assert staff is not None
    session = await open_session(conn, staff, at=T0)
    assert await session_user(conn, session, at=T0 + timedelta(hours=3)) == staff
    assert await session_user(conn, session, at=T0 + timedelta(hours=6)) == staff
    assert await session_user(conn, session, at=T0 + timedelta(hours=10, minutes=1)) is None
    used = await open_session(conn, staff, at=T0)
    for hour in range(1, 12):
        assert await session_user(conn, used, at=T0 + timedelta(hours=hour)) is not None
    assert await session_user(conn, used, at=T0 + timedelta(hours=12, seconds=1)) is None

    ended = await open_session(conn, staff, at=T0)
    assert await end_session(conn, ended, at=T0)
    assert await session_user(conn, ended, at=T0) is None
    revoked = await open_session(conn, staff, at=T0)
    await conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE name = 'staff'", (T0,))
    assert await session_user(conn, revoked, at=T0) is None


async def _counted(pulled: list[int]) -> AsyncIterator[bytes]:
    for _ in range(20):
        pulled.append(1)
        yield b"csrf=x&device=" + b"y" * 65536


async def test_an_anonymous_console_post_is_refused_before_its_body(api: Api) -> None:
    """A state-changing console request without a session goes to /login unread."""
    pulled: list[int] = []
    answer = await api.client.post(
        "/problems/relabel",
        content=_counted(pulled),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert pulled == []


async def test_csrf_is_still_required_with_a_session(api: Api) -> None:
    """A signed-in staff's action without the CSRF token is 403 and audited."""
    await api.add_label("lbl-00001")
    await _log_in(api.client, api.tokens["staff"])
    answer = await api.client.post("/labels/lbl-00001/relabel", data={})
    assert answer.status_code == 403
    [entry] = await api.audit("client:127.0.0.1")
    assert entry["action"] == "auth.denied"
    assert entry["detail"]["why"] == "missing or wrong CSRF token"


async def test_finding_5_sign_in_attempts_are_throttled_and_audited(settings: Settings) -> None:
    """Wrong tokens at /login: 401 and an audit entry each, then 429 with Retry-After."""
    limits = EdgeLimits(auth_failures_per_address=Rate(per_s=1e-6, burst=3))
    async with open_api(settings, limits=limits) as api:
        codes = [(await _log_in(api.client, f"guess-{n}")).status_code for n in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        refused = await _log_in(api.client, api.tokens["staff"])
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        async with api.controller.conn.execute(
            "SELECT action, target FROM audit_log ORDER BY id"
        ) as cursor:
            rows = [tuple(row) for row in await cursor.fetchall()]
        assert rows == [("console.login_failed", "client:127.0.0.1")] * 3


async def test_a_throttled_sign_in_shows_the_login_page_saying_how_long_to_wait(
    settings: Settings,
) -> None:
    """A browser past the sign-in limit gets the login page (429, Retry-After), not JSON."""
    limits = EdgeLimits(auth_failures_per_address=Rate(per_s=1e-6, burst=1))
    async with open_api(settings, limits=limits) as api:
        await _log_in(api.client, "guess")
        refused = await _log_in(api.client, "guess-again")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        seconds = refused.headers["retry-after"]
        assert f"Try again in {seconds} s." in refused.text
        assert '<form method="post" action="/login">' in refused.text


async def test_console_errors_are_pages_and_api_errors_json(api: Api) -> None:
    """An unknown label is a page with a way back for a browser, JSON for an API client."""
    await _log_in(api.client, api.tokens["staff"])
    page = await api.client.get("/labels/lbl-nope", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "no label" in page.text
    assert 'href="/"' in page.text
    answer = await api.client.get(
        "/api/v1/labels/lbl-nope", headers={"authorization": f"Bearer {api.tokens['staff']}"}
    )
    assert answer.status_code == 404
    assert answer.json()["detail"]
