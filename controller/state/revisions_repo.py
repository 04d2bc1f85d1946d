"""The images this controller issued to each label, what a label's report is worth against
them, and the corrective revision that answers a report not worth believing.

A report is believed when it names an image this controller issued to that label (the revision
and content hash it sent, `label_revisions`, kept for the last ISSUED_KEPT revisions), or
repeats what the label reported before (its Birth says what it shows after a restart, even an
image of a lost database). It is not believed when it claims a revision above the desired one,
or a revision this controller issued with another content hash, or one in the remembered range
that was never issued: recording it would mark the label confirmed (or show it showing
something it cannot show), so the store could no longer prove what the shelf displays.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import aiosqlite

from controller.state.database import in_chunks, transaction
from controller.state.labels_repo import ISSUED_KEPT, Priority
from controller.state.units import run_read

MAX_REVISION = 2**63 - 1  # SQLite's INTEGER; the protocol's u64 above it is never issued


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What a label's report is judged against."""

    desired_revision: int
    desired_hash: bytes | None
    reported_revision: int
    reported_hash: bytes | None
    issued: dict[int, bytes] = field(default_factory=dict)  # the revisions asked about
    oldest_issued: int | None = None  # the oldest revision still remembered

    def doubt(self, revision: int, content_hash: bytes) -> str | None:
        """None when the report is credible, else why it is not."""
        if revision > MAX_REVISION:
            return f"reported revision {revision}, which no controller issues"
        if self.desired_hash is None or revision == 0:
            return None  # nothing issued yet, or "no image": nothing to contradict
        if revision == self.reported_revision and content_hash == self.reported_hash:
            return None  # what it said before (its Birth after a restart, a repeated report)
        if revision > self.desired_revision:
            return f"reported revision {revision} above the desired {self.desired_revision}"
        sent = self.issued.get(revision)
        if sent is not None:
            if sent == content_hash:
                return None
            return f"reported revision {revision} with a content hash never sent for it"
        if self.oldest_issued is not None and revision >= self.oldest_issued:
            return f"reported revision {revision}, which was never issued to it"
        return None  # older than what is remembered: cannot tell, and it is not confirmation


def read_report_facts(
    db: sqlite3.Connection, reports: Sequence[tuple[str, int]]
) -> dict[str, ReportFacts]:
    """The facts to judge (device id, revision) reports by, for each label that has a state,
    in a few queries whatever their number (a reprice brings a store's reports in a burst)."""
    ids = list(dict.fromkeys(device_id for device_id, _ in reports))
    claimed = {(d, r) for d, r in reports if r <= MAX_REVISION}
    states: dict[str, tuple[int, bytes | None, int, bytes | None]] = {}
    issued: dict[str, dict[int, bytes]] = {}
    oldest: dict[str, int] = {}
    for part, marks in in_chunks(ids):
        for row in db.execute(
            "SELECT device_id, desired_revision, desired_hash, reported_revision,"  # noqa: S608
            f" reported_hash FROM label_state WHERE device_id IN ({marks})",
            part,
        ).fetchall():
            states[row[0]] = (row[1], row[2], row[3], row[4])
        # The few revisions kept per label, by its primary key (a row-value IN over the pairs
        # scanned the whole table: a store's labels times the revisions kept, per batch).
        for device_id, revision, content_hash in db.execute(
            "SELECT device_id, revision, content_hash FROM label_revisions"  # noqa: S608
            f" WHERE device_id IN ({marks})",
            part,
        ).fetchall():
            if device_id not in oldest or revision < oldest[device_id]:
                oldest[device_id] = revision
            if (device_id, revision) in claimed:
                issued.setdefault(device_id, {})[revision] = content_hash
    return {
        device_id: ReportFacts(
            *state, issued=issued.get(device_id, {}), oldest_issued=oldest.get(device_id)
        )
        for device_id, state in states.items()
    }


async def report_facts(
    conn: aiosqlite.Connection, reports: Sequence[tuple[str, int]]
) -> dict[str, ReportFacts]:
    """`read_report_facts` in one hop to the database's thread."""
    return await run_read(conn, read_report_facts, reports)


async def correct_label(
    conn: aiosqlite.Connection, device_id: str, claimed_revision: int, at: datetime
) -> int | None:
    """Answer a report not believed: what the label shows is unknown again (so the audit lists
    it and the next offer is a full frame), and the desired content goes out again as a revision
    above both the desired one and the one claimed (a label that really holds the claimed
    revision would ignore anything not above it). Returns the revision now due, None when the
    label has no desired image or no revision above the claim can exist."""
    now = at.isoformat()
    async with transaction(conn):
        async with conn.execute(
            "SELECT desired_revision, desired_hash, reported_revision FROM label_state"
            " WHERE device_id = ? AND desired_planes IS NOT NULL",
            (device_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        desired, content_hash, reported = row[0], row[1], row[2]
        revision = desired
        if claimed_revision >= desired:
            revision = max(desired, reported, claimed_revision) + 1
            if revision > MAX_REVISION:
                return None
        await conn.execute(
            "UPDATE label_state SET desired_revision = ?, desired_at = ?, reported_hash = NULL,"
            " reported_at = ?, shown_planes = NULL WHERE device_id = ?",
            (revision, now, now, device_id),
        )
        await conn.execute(
            "INSERT OR REPLACE INTO label_revisions (device_id, revision, content_hash)"
            " VALUES (?, ?, ?)",
            (device_id, revision, content_hash),
        )
        await conn.execute(
            "DELETE FROM label_revisions WHERE device_id = ? AND revision <= ?",
            (device_id, revision - ISSUED_KEPT),
        )
        await conn.execute(
            "INSERT INTO outbox (device_id, revision, priority, reason, enqueued_at, attempts,"
            " next_attempt_at) VALUES (?, ?, ?, 'correction', ?, 0, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET revision = excluded.revision,"
            " priority = MIN(outbox.priority, excluded.priority), reason = excluded.reason,"
            " attempts = 0, next_attempt_at = excluded.next_attempt_at",
            (device_id, revision, int(Priority.SINGLE), now, now),
        )
    return int(revision)
