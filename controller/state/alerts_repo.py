"""Alerts for staff: what needs a person (an empty lane, a misplaced product, a help press), who
acknowledged it and who resolved it, when (docs/alerts.md).

An alert is about a subject ("shelf-0001/2" for a lane, a room's id, a device's id) and of a
kind; at most one alert of a kind about a subject is unresolved at a time (a unique index), so a
lane that reports "low stock" again while its alert is open adds nothing. Its life:
open → acknowledged (a person is on it) → resolved (by a person, or by the device: a restock
resolves "low stock"). Each change adds one to `version`; the alert topic's publisher sends every
alert whose `published_version` is behind and then records it (an outbox in the table itself).

The `*_in` functions run inside another unit of work (the shelves' events open and resolve
alerts in the same transaction that records them); the async ones are units of their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import aiosqlite

from controller.state.units import run_read, run_unit


class AlertKind(StrEnum):
    LOW_STOCK = "low_stock"
    OUT_OF_STOCK = "out_of_stock"
    MISPLACED = "misplaced"
    UNCERTAIN = "uncertain"  # a count the weight cannot explain: recount
    SENSOR_OFFLINE = "sensor_offline"
    HELP = "help"  # a fitting room's help button


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class NewAlert:
    kind: AlertKind
    subject: str
    device_id: str | None
    lane: int | None
    sku: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: AlertKind
    subject: str
    state: AlertState
    device_id: str | None
    lane: int | None
    sku: str | None
    detail: dict[str, Any]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalated_at: datetime | None
    escalations: int
    version: int

    def document(self) -> dict[str, Any]:
        """The alert as the API and the alert topic show it."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "subject": self.subject,
            "state": self.state.value,
            "device_id": self.device_id,
            "lane": self.lane,
            "sku": self.sku,
            "detail": self.detail,
            "opened_at": self.opened_at.isoformat(),
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": _iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "escalated_at": _iso(self.escalated_at),
            "escalations": self.escalations,
            "version": self.version,
        }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


_COLUMNS = (
    "id, kind, subject, state, device_id, lane, sku, detail, opened_at, acknowledged_at,"
    " acknowledged_by, resolved_at, resolved_by, escalated_at, escalations, version"
)


def _alert(row: Sequence[Any]) -> Alert:
    return Alert(
        id=row[0],
        kind=AlertKind(row[1]),
        subject=row[2],
        state=AlertState(row[3]),
        device_id=row[4],
        lane=row[5],
        sku=row[6],
        detail=json.loads(row[7]),
        opened_at=datetime.fromisoformat(row[8]),
        acknowledged_at=_at(row[9]),
        acknowledged_by=row[10],
        resolved_at=_at(row[11]),
        resolved_by=row[12],
        escalated_at=_at(row[13]),
        escalations=row[14],
        version=row[15],
    )


# ---- inside another unit of work ---------------------------------------------------------------


def open_alert_in(db: sqlite3.Connection, alert: NewAlert, at: datetime) -> bool:
    """Open the alert unless one of its kind about its subject is unresolved; True if opened."""
    cursor = db.execute(
        "INSERT INTO alerts (kind, subject, state, device_id, lane, sku, detail, opened_at)"
        " VALUES (?, ?, 'open', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            alert.kind.value,
            alert.subject,
            alert.device_id,
            alert.lane,
            alert.sku,
            json.dumps(alert.detail, sort_keys=True),
            at.isoformat(),
        ),
    )
    return cursor.rowcount > 0


def resolve_alerts_in(
    db: sqlite3.Connection, kinds: Sequence[AlertKind], subject: str, by: str, at: datetime
) -> int:
    """Resolve the unresolved alerts of these kinds about the subject; how many were."""
    if not kinds:
        return 0
    marks = ", ".join("?" * len(kinds))
    cursor = db.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_by = ?,"  # noqa: S608
        " version = version + 1"
        f" WHERE subject = ? AND state != 'resolved' AND kind IN ({marks})",
        (at.isoformat(), by, subject, *(k.value for k in kinds)),
    )
    return cursor.rowcount


# ---- units of their own ------------------------------------------------------------------------


class AlertNotFound(LookupError):
    pass


class AlertConflict(ValueError):
    """The alert is already past the state asked for (resolved, say)."""


async def list_alerts(
    conn: aiosqlite.Connection,
    *,
    states: Sequence[AlertState] = (),
    kinds: Sequence[AlertKind] = (),
    limit: int = 100,
    before_id: int | None = None,
) -> list[Alert]:
    """Alerts, newest first (`before_id` pages on), filtered by state and kind."""
    return await run_read(conn, _list, tuple(states), tuple(kinds), limit, before_id)


def _list(
    db: sqlite3.Connection,
    states: tuple[AlertState, ...],
    kinds: tuple[AlertKind, ...],
    limit: int,
    before_id: int | None,
) -> list[Alert]:
    query = f"SELECT {_COLUMNS} FROM alerts WHERE 1 = 1"  # noqa: S608
    params: list[Any] = []
    if states:
        query += f" AND state IN ({', '.join('?' * len(states))})"
        params += [s.value for s in states]
    if kinds:
        query += f" AND kind IN ({', '.join('?' * len(kinds))})"
        params += [k.value for k in kinds]
    if before_id is not None:
        query += " AND id < ?"
        params.append(before_id)
    query += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [_alert(row) for row in db.execute(query, params).fetchall()]


async def alert(conn: aiosqlite.Connection, alert_id: int) -> Alert | None:
    return await run_read(conn, _one, alert_id)


def _one(db: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608
        (alert_id,),
    ).fetchone()
    return None if row is None else _alert(row)


async def unresolved_counts(conn: aiosqlite.Connection) -> dict[tuple[AlertKind, AlertState], int]:
    """How many alerts are open and acknowledged, per kind."""
    return await run_read(conn, _counts)


def _counts(db: sqlite3.Connection) -> dict[tuple[AlertKind, AlertState], int]:
    rows = db.execute(
        "SELECT kind, state, count(*) FROM alerts WHERE state != 'resolved' GROUP BY kind, state"
    ).fetchall()
    return {(AlertKind(k), AlertState(s)): n for k, s, n in rows}


async def acknowledge(conn: aiosqlite.Connection, alert_id: int, by: str, at: datetime) -> Alert:
    """A person is on it. Acknowledging an acknowledged alert again changes nothing; a resolved
    one is a conflict."""
    return await run_unit(conn, _acknowledge, alert_id, by, at.isoformat())


def _acknowledge(db: sqlite3.Connection, alert_id: int, by: str, at: str) -> Alert:
    found = _one(db, alert_id)
    if found is None:
        raise AlertNotFound(f"no alert {alert_id}")
    if found.state is AlertState.RESOLVED:
        raise AlertConflict(f"alert {alert_id} is already resolved")
    if found.state is AlertState.OPEN:
        db.execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?,"
            " version = version + 1 WHERE id = ?",
            (at, by, alert_id),
        )
    result = _one(db, alert_id)
    assert result is not None
    return result


async def resolve(conn: aiosqlite.Connection, alert_id: int, by: str, at: datetime) -> Alert:
    """Done. Resolving a resolved alert again changes nothing (its first resolver stays)."""
    return await run_unit(conn, _resolve, alert_id, by, at.isoformat())


def _resolve(db: sqlite3.Connection, alert_id: int, by: str, at: str) -> Alert:
    found = _one(db, alert_id)
    if found is None:
        raise AlertNotFound(f"no alert {alert_id}")
    if found.state is not AlertState.RESOLVED:
        db.execute(
            "UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_by = ?,"
            " version = version + 1 WHERE id = ?",
            (at, by, alert_id),
        )
    result = _one(db, alert_id)
    assert result is not None
    return result


async def escalate_due(
    conn: aiosqlite.Connection, kinds: Sequence[AlertKind], opened_before: datetime, at: datetime
) -> list[Alert]:
    """Escalate the alerts of these kinds still open (not acknowledged) since before
    `opened_before` and not escalated since then; the ones escalated now."""
    return await run_unit(
        conn, _escalate, tuple(k.value for k in kinds), opened_before.isoformat(), at.isoformat()
    )


def _escalate(db: sqlite3.Connection, kinds: tuple[str, ...], before: str, at: str) -> list[Alert]:
    if not kinds:
        return []
    marks = ", ".join("?" * len(kinds))
    ids = [
        row[0]
        for row in db.execute(
            f"SELECT id FROM alerts WHERE state = 'open' AND kind IN ({marks})"  # noqa: S608
            " AND coalesce(escalated_at, opened_at) < ?",
            (*kinds, before),
        ).fetchall()
    ]
    for alert_id in ids:
        db.execute(
            "UPDATE alerts SET escalated_at = ?, escalations = escalations + 1,"
            " version = version + 1 WHERE id = ?",
            (at, alert_id),
        )
    return [a for a in (_one(db, i) for i in ids) if a is not None]


async def unpublished(conn: aiosqlite.Connection, limit: int) -> list[Alert]:
    """Alerts changed since they were last sent on the alert topic, oldest first."""
    return await run_read(conn, _unpublished, limit)


def _unpublished(db: sqlite3.Connection, limit: int) -> list[Alert]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE published_version < version"  # noqa: S608
        " ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    return [_alert(row) for row in rows]


async def mark_published(conn: aiosqlite.Connection, sent: Sequence[tuple[int, int]]) -> None:
    """(id, version) pairs the broker acknowledged; a later change stays unpublished."""
    await run_unit(conn, _mark_published, tuple(sent))


def _mark_published(db: sqlite3.Connection, sent: tuple[tuple[int, int], ...]) -> None:
    db.executemany(
        "UPDATE alerts SET published_version = max(published_version, ?) WHERE id = ?",
        [(version, alert_id) for alert_id, version in sent],
    )


async def unresolved_by_device(conn: aiosqlite.Connection) -> dict[str, int]:
    """How many alerts about each device (a sensor's lanes and itself, a room) are unresolved:
    one grouped count rather than every unresolved alert read (a store has thousands of
    lanes, each with up to a few kinds open)."""
    return await run_read(conn, _by_device)


def _by_device(db: sqlite3.Connection) -> dict[str, int]:
    rows = db.execute(
        "SELECT device_id, count(*) FROM alerts WHERE state IN ('open', 'acknowledged')"
        " AND device_id IS NOT NULL GROUP BY device_id"
    ).fetchall()
    return dict(rows)
