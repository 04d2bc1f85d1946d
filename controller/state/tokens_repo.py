"""The REST API's credentials: named bearer tokens with a role, stored only as their SHA-256.

A token is 32 random bytes (urlsafe base64), shown once when it is created. Only its SHA-256 is
stored: a token with 256 bits of entropy cannot be guessed or brute-forced from its hash, so a
slow password hash (bcrypt, Argon2) would add cost without adding safety; those exist to protect
low-entropy, human-chosen passwords. A presented token is looked up by its hash, so no secret is
ever compared byte by byte (a timing-safe comparison is moot); a revoked token never matches.

Roles are ordered: viewer < staff < admin; a role may do what every lower role may.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import aiosqlite

from controller.errors import ControllerError
from controller.state.database import transaction

TOKEN_BYTES = 32
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"  # the audit log's actor


class Role(StrEnum):
    VIEWER = "viewer"
    STAFF = "staff"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """This role may do what `needed` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.STAFF: 1, Role.ADMIN: 2}


class TokenNameTaken(ControllerError):
    """A token of that name exists (names identify actors in the audit log: never reused)."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _token(row: aiosqlite.Row) -> ApiToken:
    revoked = row["revoked_at"]
    return ApiToken(
        row["name"],
        Role(row["role"]),
        datetime.fromisoformat(row["created_at"]),
        row["created_by"],
        datetime.fromisoformat(revoked) if revoked else None,
    )


async def create_token(
    conn: aiosqlite.Connection, name: str, role: Role, *, at: datetime, created_by: str
) -> tuple[ApiToken, str]:
    """A new token and its secret (returned this once; only its hash is stored)."""
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        async with transaction(conn):
            await conn.execute(
                "INSERT INTO api_tokens (name, role, token_hash, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, role.value, token_hash(secret), at.isoformat(), created_by),
            )
    except sqlite3.IntegrityError as exc:
        raise TokenNameTaken(f"a token named {name!r} exists (or existed)") from exc
    return ApiToken(name, role, at, created_by, None), secret


async def token_for(conn: aiosqlite.Connection, presented: str) -> ApiToken | None:
    """The active token whose secret is `presented`; None when unknown or revoked."""
    async with conn.execute(
        "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (token_hash(presented),),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _token(row)


async def list_tokens(conn: aiosqlite.Connection) -> list[ApiToken]:
    """Every token, revoked ones included (they still name actors in the audit log)."""
    async with conn.execute("SELECT * FROM api_tokens ORDER BY name") as cursor:
        rows = await cursor.fetchall()
    return [_token(row) for row in rows]


async def revoke_token(conn: aiosqlite.Connection, name: str, *, at: datetime) -> bool:
    """Revoke the named active token; False when there is none."""
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (at.isoformat(), name),
        )
    return cursor.rowcount > 0
