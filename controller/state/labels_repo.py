"""What each label should show and what it reports it shows, and the pushes still owed.

The rules this module keeps (PROTOCOL.md §4: desired/reported with monotonic revisions):
- A label's desired revision only grows. A new image gets desired_revision + 1, in the same
  transaction that puts it in the outbox, so a crash never leaves a desired image nobody pushes.
- An image whose content hash equals the desired one is not a new revision (dedup), unless the
  push is forced (a staff relabel).
- The outbox holds one row per label: the latest image wins, and the most urgent priority of the
  superseded and the new push is kept, so a bulk reprice never delays a staff action.
- A report only moves `reported_revision` forward; a report at or past the outbox revision with
  the desired hash settles the push.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

import aiosqlite

from controller.convergence import Counts
from controller.state.database import in_chunks, transaction
from controller.state.units import run_read, run_rederivable_unit
from firmware_protocol.transfer import compress_planes

ISSUED_KEPT = 16  # issued revisions remembered per label (state/revisions_repo.py)


class Priority(IntEnum):
    """Lower goes first."""

    STAFF = 0
    SINGLE = 1
    BULK = 2


@dataclass(frozen=True, slots=True)
class Push:
    device_id: str
    revision: int
    priority: Priority
    reason: str
    attempts: int


@dataclass(frozen=True, slots=True)
class LabelState:
    device_id: str
    desired_revision: int
    desired_hash: bytes | None
    reported_revision: int
    reported_hash: bytes | None
    desired_at: datetime | None
    reported_at: datetime | None

    @property
    def confirmed(self) -> bool:
        return self.desired_hash is not None and self.reported_hash == self.desired_hash


@dataclass(frozen=True, slots=True)
class PlannedImage:
    """An image a label should show; `plan_pushes` decides whether it is a new revision."""

    device_id: str
    content_hash: bytes
    priority: Priority
    reason: str
    force: bool = False
    planes: bytes | None = None
    page: int = 1
    template: str | None = None
    compressed: bytes | None = None  # the planes' zlib stream, if the renderer made it already


async def plan_push(
    conn: aiosqlite.Connection,
    device_id: str,
    content_hash: bytes,
    *,
    priority: Priority,
    reason: str,
    at: datetime,
    force: bool = False,
    planes: bytes | None = None,
    page: int = 1,
    template: str | None = None,
) -> int | None:
    """The new desired revision for `content_hash`, queued; None when the label already has it.

    The revision is above both the desired and the reported one: a label that reports a
    revision this database never issued (a restored backup, a lost database) still takes the
    next image instead of ignoring it as stale.
    """
    image = PlannedImage(device_id, content_hash, priority, reason, force, planes, page, template)
    return (await plan_pushes(conn, [image], at))[0]


async def plan_pushes(
    conn: aiosqlite.Connection, images: list[PlannedImage], at: datetime
) -> list[int | None]:
    """`plan_push` for many labels (one each) in one transaction and a few statements."""
    now = at.isoformat()
    revisions: list[int | None] = []
    async with transaction(conn):
        current: dict[str, tuple[int, bytes | None]] = {}
        ids = [image.device_id for image in images]
        for part, marks in in_chunks(ids):
            async with conn.execute(
                "SELECT device_id, MAX(desired_revision, reported_revision), desired_hash"  # noqa: S608
                f" FROM label_state WHERE device_id IN ({marks})",
                part,
            ) as cursor:
                for row in await cursor.fetchall():
                    current[row[0]] = (row[1], row[2])
        states: list[tuple[object, ...]] = []
        outbox: list[tuple[object, ...]] = []
        issued: list[tuple[str, int, bytes]] = []
        for image in images:
            known = current.get(image.device_id)
            if known is not None and known[1] == image.content_hash and not image.force:
                revisions.append(None)
                continue
            revision = (known[0] if known else 0) + 1
            current[image.device_id] = (revision, image.content_hash)
            stored = image.compressed
            if stored is None and image.planes is not None:
                stored = compress_planes(image.planes)
            states.append(
                (
                    image.device_id,
                    revision,
                    image.content_hash,
                    now,
                    stored,
                    image.page,
                    image.template,
                )
            )
            outbox.append((image.device_id, revision, int(image.priority), image.reason, now, now))
            issued.append((image.device_id, revision, image.content_hash))
            revisions.append(revision)
        await conn.executemany(
            "INSERT INTO label_state (device_id, desired_revision, desired_hash, desired_at,"
            " desired_planes, desired_page, desired_template) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET"
            " desired_revision = excluded.desired_revision,"
            " desired_hash = excluded.desired_hash, desired_at = excluded.desired_at,"
            " desired_planes = excluded.desired_planes, desired_page = excluded.desired_page,"
            " desired_template = excluded.desired_template",
            states,
        )
        await conn.executemany(
            "INSERT INTO outbox (device_id, revision, priority, reason, enqueued_at,"
            " attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, 0, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET revision = excluded.revision,"
            " priority = MIN(outbox.priority, excluded.priority), reason = excluded.reason,"
            " enqueued_at = excluded.enqueued_at, attempts = 0,"
            " next_attempt_at = excluded.next_attempt_at",
            outbox,
        )
        # What was issued, so that a report of anything else is not believed (the last few
        # revisions per label: a label further behind is re-offered the desired image anyway).
        await conn.executemany(
            "INSERT OR REPLACE INTO label_revisions (device_id, revision, content_hash)"
            " VALUES (?, ?, ?)",
            issued,
        )
        await conn.executemany(
            "DELETE FROM label_revisions WHERE device_id = ? AND revision <= ?",
            [(device_id, revision - ISSUED_KEPT) for device_id, revision, _ in issued],
        )
    return revisions


async def record_report(
    conn: aiosqlite.Connection,
    device_id: str,
    revision: int,
    content_hash: bytes,
    at: datetime,
    *,
    authoritative: bool = False,
) -> bool:
    """A label reported what it shows; False when the report is older than one already seen.

    `authoritative`: the label's Birth, what it shows right after (re)starting. It is recorded
    even if older than a report seen before: a label that lost its image (a replaced unit, a
    flash failure) must not stay "confirmed" in the price-accuracy audit.
    """
    recorded = await record_reports(
        conn, [(device_id, revision, content_hash)], at, authoritative=authoritative
    )
    return recorded[0]


async def record_reports(
    conn: aiosqlite.Connection,
    reports: Sequence[tuple[str, int, bytes]],
    at: datetime,
    *,
    authoritative: bool = False,
) -> list[bool]:
    """`store_reports` as one unit of work (one hop to the database's thread); reports are
    retained on the broker, so the commit does not wait for the disk (state/units.py)."""
    return await run_rederivable_unit(conn, store_reports, reports, at, authoritative=authoritative)


def store_reports(
    db: sqlite3.Connection,
    reports: Sequence[tuple[str, int, bytes]],
    at: datetime,
    *,
    authoritative: bool = False,
) -> list[bool]:
    """`record_report` for (device id, revision, content hash) reports in arrival order, in a
    few statements (a reprice brings a store's reports in a burst)."""
    known: dict[str, tuple[int, bytes | None]] = {}  # device -> reported revision, desired
    ids = list(dict.fromkeys(device_id for device_id, _, _ in reports))
    for part, marks in in_chunks(ids):
        for row in db.execute(
            "SELECT device_id, reported_revision, desired_hash FROM label_state"  # noqa: S608
            f" WHERE device_id IN ({marks})",
            part,
        ).fetchall():
            known[row[0]] = (row[1], row[2])
    recorded: list[bool] = []
    upserts: list[tuple[object, ...]] = []
    settled: list[tuple[str, int]] = []
    stamp = at.isoformat()
    for device_id, revision, content_hash in reports:
        state = known.get(device_id)
        if state is not None and revision < state[0] and not authoritative:
            recorded.append(False)
            continue
        recorded.append(True)
        known[device_id] = (revision, state[1] if state else None)
        upserts.append((device_id, revision, content_hash, stamp))
        if state is not None and state[1] == content_hash:
            settled.append((device_id, revision))
    db.executemany(
        "INSERT INTO label_state (device_id, reported_revision, reported_hash, reported_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
        " reported_revision = excluded.reported_revision,"
        " reported_hash = excluded.reported_hash, reported_at = excluded.reported_at,"
        # What it shows is the delta base of the next image: known when it is the desired
        # image, unchanged when it is the same image as before, unknown otherwise.
        " shown_planes = CASE"
        "  WHEN excluded.reported_hash = label_state.desired_hash"
        "   THEN label_state.desired_planes"
        "  WHEN excluded.reported_hash = label_state.reported_hash"
        "   THEN label_state.shown_planes"
        "  ELSE NULL END",
        upserts,
    )
    db.executemany("DELETE FROM outbox WHERE device_id = ? AND revision <= ?", settled)
    return recorded


async def due_pushes(
    conn: aiosqlite.Connection, now: datetime, limit: int, *, below: Priority | None = None
) -> list[Push]:
    """Pushes whose time has come, most urgent first, longest due first within a priority;
    only those more urgent than `below` if given.

    One query per priority, each a range of the (priority, next_attempt_at) index that stops at
    `limit`: during a reprice the outbox holds every label waiting for its report, and a query
    over all priorities at once read and sorted all of them at every round. All of them in one
    hop to the database's thread (a push round runs after every batch of reports)."""
    ceiling = int(below) if below is not None else len(Priority)
    return await run_read(conn, _due_pushes, now.isoformat(), limit, ceiling)


def _due_pushes(db: sqlite3.Connection, now: str, limit: int, ceiling: int) -> list[Push]:
    pushes: list[Push] = []
    for priority in Priority:
        if priority >= ceiling or len(pushes) >= limit:
            break
        rows = db.execute(
            "SELECT device_id, revision, reason, attempts FROM outbox"
            " WHERE priority = ? AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (int(priority), now, limit - len(pushes)),
        ).fetchall()
        pushes += [Push(r[0], r[1], priority, r[2], r[3]) for r in rows]
    return pushes


async def push_attempted(
    conn: aiosqlite.Connection, device_id: str, revision: int, retry_at: datetime
) -> None:
    """Count an attempt and set when to retry (only if the row is still that revision)."""
    await pushes_attempted(conn, [(device_id, revision, retry_at)])


async def postpone_offline(
    conn: aiosqlite.Connection, postponed: list[tuple[str, int, datetime]]
) -> None:
    """Put off pushes to offline labels: (device id, revision, until). A label whose Birth was
    recorded since the caller read it as offline is left due (its catch-up made it due)."""
    async with transaction(conn):
        await conn.executemany(
            "UPDATE outbox SET next_attempt_at = ? WHERE device_id = ? AND revision = ?"
            " AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_id = outbox.device_id"
            " AND d.online = 1 AND d.adopted = 1)",
            [(until.isoformat(), device_id, revision) for device_id, revision, until in postponed],
        )


async def pushes_attempted(
    conn: aiosqlite.Connection, attempts: list[tuple[str, int, datetime]]
) -> None:
    """`push_attempted` for many labels in one transaction: (device id, revision, retry at)."""
    async with transaction(conn):
        await conn.executemany(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?"
            " WHERE device_id = ? AND revision = ?",
            [
                (retry_at.isoformat(), device_id, revision)
                for device_id, revision, retry_at in attempts
            ],
        )


@dataclass(frozen=True, slots=True)
class DesiredImage:
    """What a push sends: the desired image and the image the label shows (the delta base)."""

    device_id: str
    revision: int
    content_hash: bytes
    planes: bytes
    shown: bytes | None
    page: int
    stored: bytes  # `planes` compressed, as stored: a full frame's payload as it is


async def desired_images(
    conn: aiosqlite.Connection, device_ids: list[str]
) -> dict[str, DesiredImage]:
    """The desired image (and the shown one) of each label that has one, in a few queries."""
    found: dict[str, DesiredImage] = {}
    for part, marks in in_chunks(device_ids):
        async with conn.execute(
            "SELECT device_id, desired_revision, desired_hash, desired_planes, shown_planes,"  # noqa: S608
            " desired_page FROM label_state"
            f" WHERE device_id IN ({marks}) AND desired_planes IS NOT NULL",
            part,
        ) as cursor:
            for row in await cursor.fetchall():
                shown = row["shown_planes"]
                found[row["device_id"]] = DesiredImage(
                    row["device_id"],
                    row["desired_revision"],
                    row["desired_hash"],
                    zlib.decompress(row["desired_planes"]),
                    zlib.decompress(shown) if shown is not None else None,
                    row["desired_page"],
                    row["desired_planes"],
                )
    return found


async def desired_image(conn: aiosqlite.Connection, device_id: str) -> DesiredImage | None:
    return (await desired_images(conn, [device_id])).get(device_id)


async def retry_now(conn: aiosqlite.Connection, device_id: str, at: datetime) -> bool:
    """Make a label's pending push due at once (it came back, or asked for a lost offer)."""
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE outbox SET next_attempt_at = ? WHERE device_id = ? AND next_attempt_at > ?",
            (at.isoformat(), device_id, at.isoformat()),
        )
    return cursor.rowcount > 0


ENSURE_PUSH = (
    "INSERT INTO outbox (device_id, revision, priority, reason, enqueued_at, attempts,"
    " next_attempt_at) SELECT device_id, desired_revision, ?, 'catch-up', ?, 0, ?"
    " FROM label_state WHERE device_id = ? AND desired_planes IS NOT NULL"
    " AND (reported_hash IS NULL OR reported_hash != desired_hash)"
    " ON CONFLICT (device_id) DO UPDATE SET next_attempt_at = excluded.next_attempt_at"
)


async def ensure_push(conn: aiosqlite.Connection, device_id: str, at: datetime) -> bool:
    """Make the label's desired image due for a push now, queueing it again if it was settled
    (the label lost it); False when it has no desired image or reports showing it."""
    now = at.isoformat()
    async with transaction(conn):
        cursor = await conn.execute(ENSURE_PUSH, (int(Priority.SINGLE), now, now, device_id))
    return cursor.rowcount > 0


def push_due_now(db: sqlite3.Connection, device_ids: Sequence[str], at: datetime) -> None:
    """`ensure_push` for many labels in one statement (a store's births catching up)."""
    now = at.isoformat()
    db.executemany(ENSURE_PUSH, [(int(Priority.SINGLE), now, now, d) for d in device_ids])


async def label_state(conn: aiosqlite.Connection, device_id: str) -> LabelState | None:
    async with conn.execute(
        "SELECT * FROM label_state WHERE device_id = ?", (device_id,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _state(row)


async def unconfirmed_labels(conn: aiosqlite.Connection) -> list[LabelState]:
    """The price-accuracy audit: labels not reporting the image they should show, oldest first.

    `desired_at` says since when: the moment the label should have started showing it.
    """
    async with conn.execute(
        "SELECT * FROM label_state WHERE desired_hash IS NOT NULL"
        " AND (reported_hash IS NULL OR reported_hash != desired_hash)"
        " ORDER BY desired_at, device_id"
    ) as cursor:
        rows = await cursor.fetchall()
    return [_state(row) for row in rows]


async def convergence_counts(conn: aiosqlite.Connection) -> Counts:
    """Linked labels, those with a rendered image, and those confirmed (reporting the desired
    image), for progress reports (controller/convergence.py). One scan: ~13 ms at 5,000 labels
    (label_state's rows hold the planes, so the scan reads them); read it every few seconds on
    the reader connection, never per label."""
    async with conn.execute(
        "SELECT count(*), count(s.desired_hash),"
        " coalesce(sum(s.desired_hash IS NOT NULL AND s.reported_hash = s.desired_hash), 0)"
        " FROM bindings b JOIN devices d USING (device_id)"
        " LEFT JOIN label_state s USING (device_id) WHERE d.adopted = 1"
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return Counts(0, 0, 0)
    return Counts(total=int(row[0]), confirmed=int(row[2]), rendered=int(row[1]))


def _state(row: aiosqlite.Row) -> LabelState:
    return LabelState(
        device_id=row["device_id"],
        desired_revision=row["desired_revision"],
        desired_hash=row["desired_hash"],
        reported_revision=row["reported_revision"],
        reported_hash=row["reported_hash"],
        desired_at=datetime.fromisoformat(row["desired_at"]) if row["desired_at"] else None,
        reported_at=datetime.fromisoformat(row["reported_at"]) if row["reported_at"] else None,
    )
