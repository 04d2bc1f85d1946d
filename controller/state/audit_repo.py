"""The audit log: who changed what, when. Rows are only ever appended."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str  # a token's name, "hq" for the catalog feed, "system" for the controller itself
    action: str  # "item.upsert", "label.link", "label.relabel", ...
    target: str  # "item:TR-1", "label:lbl-00001"
    detail: dict[str, Any]


async def append_audit(
    conn: aiosqlite.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry (inside the caller's transaction, if any); returns its id."""
    if at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    cursor = await conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        (at.isoformat(), actor, action, target, json.dumps(detail or {}, sort_keys=True)),
    )
    return int(cursor.lastrowid or 0)


async def append_audits(
    conn: aiosqlite.Connection,
    entries: Sequence[tuple[str, str, str, dict[str, Any]]],
    at: datetime,
) -> None:
    """Append (actor, action, target, detail) entries in one statement."""
    if at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    stamp = at.isoformat()
    await conn.executemany(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        [(stamp, a, action, t, json.dumps(d, sort_keys=True)) for a, action, t, d in entries],
    )


async def audit_entries(
    conn: aiosqlite.Connection, *, target: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """The newest entries first, optionally for one target."""
    query = "SELECT id, at, actor, action, target, detail FROM audit_log"
    params: tuple[Any, ...] = ()
    if target is not None:
        query += " WHERE target = ?"
        params = (target,)
    query += " ORDER BY id DESC LIMIT ?"
    async with conn.execute(query, (*params, limit)) as cursor:
        rows = await cursor.fetchall()
    return [
        AuditEntry(
            row["id"],
            datetime.fromisoformat(row["at"]),
            row["actor"],
            row["action"],
            row["target"],
            json.loads(row["detail"]),
        )
        for row in rows
    ]
