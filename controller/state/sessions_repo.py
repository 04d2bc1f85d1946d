"""Console sessions: what the console's cookie holds instead of the API token.

Signing in with an API token opens a session: a new random id (32 bytes) goes into the cookie and
only its SHA-256 is stored, with the token it was opened with. The API token never leaves the
login form. A session ends:
- on logout (`end_session`): the old cookie no longer works, even if someone kept a copy;
- after IDLE of no use, or at the latest ABSOLUTE after sign-in (a shift);
- when its token is revoked (the lookup joins the active tokens).
`last_seen_at` is written at most once a TOUCH_EVERY, so that the wall's many image requests do
not each write. Ended and expired rows are deleted when a new session is opened.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import aiosqlite

from controller.state.database import transaction
from controller.state.tokens_repo import ApiToken, Role

SESSION_BYTES = 32
IDLE = timedelta(hours=4)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8")).digest()


async def open_session(conn: aiosqlite.Connection, token: ApiToken, *, at: datetime) -> str:
    """A new session for `token`; returns the id for the cookie (stored only as a hash)."""
    session_id = secrets.token_urlsafe(SESSION_BYTES)
    async with transaction(conn):
        await conn.execute(
            "DELETE FROM console_sessions WHERE ended_at IS NOT NULL OR created_at < ?",
            ((at - ABSOLUTE).isoformat(),),
        )
        await conn.execute(
            "INSERT INTO console_sessions (session_hash, token_name, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?)",
            (_hash(session_id), token.name, at.isoformat(), at.isoformat()),
        )
    return session_id


async def session_user(
    conn: aiosqlite.Connection, session_id: str, *, at: datetime
) -> ApiToken | None:
    """The active token of a live session; None when unknown, ended, expired or revoked."""
    async with conn.execute(
        "SELECT s.created_at, s.last_seen_at, t.name, t.role, t.created_at AS token_created,"
        " t.created_by FROM console_sessions s JOIN api_tokens t ON t.name = s.token_name"
        " WHERE s.session_hash = ? AND s.ended_at IS NULL AND t.revoked_at IS NULL",
        (_hash(session_id),),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    created = datetime.fromisoformat(row["created_at"])
    seen = datetime.fromisoformat(row["last_seen_at"])
    if at - created > ABSOLUTE or at - seen > IDLE:
        return None
    if at - seen >= TOUCH_EVERY:
        async with transaction(conn):
            await conn.execute(
                "UPDATE console_sessions SET last_seen_at = ? WHERE session_hash = ?",
                (at.isoformat(), _hash(session_id)),
            )
    return ApiToken(
        row["name"],
        Role(row["role"]),
        datetime.fromisoformat(row["token_created"]),
        row["created_by"],
        None,
    )


async def end_session(conn: aiosqlite.Connection, session_id: str, *, at: datetime) -> bool:
    """End the session (logout); False when it was not open."""
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE console_sessions SET ended_at = ? WHERE session_hash = ? AND ended_at IS NULL",
            (at.isoformat(), _hash(session_id)),
        )
    return cursor.rowcount > 0
