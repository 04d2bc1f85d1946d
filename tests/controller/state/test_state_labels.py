"""Desired/reported label state and the outbox in a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.state.database import open_database
from controller.state.labels_repo import (
    Priority,
    due_pushes,
    label_state,
    plan_push,
    push_attempted,
    record_report,
    unconfirmed_labels,
)

T0 = datetime(2026, 11, 22, 9, tzinfo=UTC)
H1, H2, H3 = b"\x01" * 16, b"\x02" * 16, b"\x03" * 16


async def test_revisions_grow_and_identical_content_is_not_a_new_revision(tmp_path):
    """New content gets revision n+1; the same hash again is skipped unless forced."""
    async with open_database(tmp_path / "s.db") as db:
        assert await plan_push(db, "l1", H1, priority=Priority.BULK, reason="r", at=T0) == 1
        assert await plan_push(db, "l1", H1, priority=Priority.BULK, reason="r", at=T0) is None
        assert await plan_push(db, "l1", H2, priority=Priority.BULK, reason="r", at=T0) == 2
        forced = await plan_push(
            db, "l1", H2, priority=Priority.STAFF, reason="relabel", at=T0, force=True
        )
        assert forced == 3


async def test_latest_wins_and_keeps_the_most_urgent_priority(tmp_path):
    """A newer image replaces the queued one; a staff push overtakes bulk ones."""
    async with open_database(tmp_path / "s.db") as db:
        for device in ("a", "b", "c"):
            await plan_push(db, device, H1, priority=Priority.BULK, reason="reprice", at=T0)
        await plan_push(db, "c", H2, priority=Priority.STAFF, reason="relabel", at=T0)
        await plan_push(db, "c", H3, priority=Priority.BULK, reason="reprice", at=T0)
        due = await due_pushes(db, T0, limit=10)
    assert [(p.device_id, p.revision, p.priority) for p in due] == [
        ("c", 3, Priority.STAFF),
        ("a", 1, Priority.BULK),
        ("b", 1, Priority.BULK),
    ]


async def test_report_settles_push_and_older_reports_are_ignored(tmp_path):
    """The desired hash reported settles the push; a late older report changes nothing."""
    async with open_database(tmp_path / "s.db") as db:
        await plan_push(db, "l1", H1, priority=Priority.SINGLE, reason="r", at=T0)
        await plan_push(db, "l1", H2, priority=Priority.SINGLE, reason="r", at=T0)
        assert await record_report(db, "l1", 2, H2, T0 + timedelta(seconds=2))
        assert await due_pushes(db, T0 + timedelta(days=1), limit=10) == []
        assert not await record_report(db, "l1", 1, H1, T0 + timedelta(seconds=3))
        state = await label_state(db, "l1")
    assert state is not None
    assert (state.reported_revision, state.reported_hash, state.confirmed) == (2, H2, True)


async def test_report_of_other_content_keeps_the_push(tmp_path):
    """A label still showing old content leaves its push queued and unconfirmed."""
    async with open_database(tmp_path / "s.db") as db:
        await plan_push(db, "l1", H2, priority=Priority.SINGLE, reason="r", at=T0)
        await record_report(db, "l1", 0, H1, T0)
        due = await due_pushes(db, T0, limit=10)
        state = await label_state(db, "l1")
    assert [p.device_id for p in due] == ["l1"]
    assert state is not None
    assert not state.confirmed


async def test_retry_waits_until_its_time_and_counts_attempts(tmp_path):
    """An attempted push is not due again before its retry time."""
    async with open_database(tmp_path / "s.db") as db:
        await plan_push(db, "l1", H1, priority=Priority.SINGLE, reason="r", at=T0)
        await push_attempted(db, "l1", 1, T0 + timedelta(seconds=30))
        assert await due_pushes(db, T0 + timedelta(seconds=29), limit=10) == []
        due = await due_pushes(db, T0 + timedelta(seconds=30), limit=10)
    assert [(p.revision, p.attempts) for p in due] == [(1, 1)]


async def test_queued_push_survives_a_restart(tmp_path):
    """The outbox is on disk: reopening the database finds the push still owed."""
    path = tmp_path / "s.db"
    async with open_database(path) as db:
        await plan_push(db, "l1", H1, priority=Priority.BULK, reason="r", at=T0)
    async with open_database(path) as db:
        due = await due_pushes(db, T0, limit=10)
    assert [(p.device_id, p.revision) for p in due] == [("l1", 1)]


async def test_price_accuracy_audit_lists_labels_not_showing_their_image(tmp_path):
    """Labels whose report differs from the desired image are listed, oldest first, since when."""
    async with open_database(tmp_path / "s.db") as db:
        await plan_push(db, "late", H1, priority=Priority.BULK, reason="r", at=T0)
        later = T0 + timedelta(minutes=5)
        await plan_push(db, "wrong", H2, priority=Priority.BULK, reason="r", at=later)
        await record_report(db, "wrong", 0, H1, later)
        await plan_push(db, "fine", H3, priority=Priority.BULK, reason="r", at=T0)
        await record_report(db, "fine", 1, H3, later)
        audit = await unconfirmed_labels(db)
    assert [(s.device_id, s.desired_at) for s in audit] == [("late", T0), ("wrong", later)]


async def test_due_pushes_go_by_priority_then_longest_due_and_stop_at_the_limit(tmp_path):
    """Staff before single before bulk; within one, the push due longest goes first; the limit
    spans priorities; `below` leaves the bulk ones out; a push not yet due is never taken."""
    async with open_database(tmp_path / "s.db") as db:
        for n, device in enumerate(("b1", "b2", "b3", "later")):
            await plan_push(db, device, H1, priority=Priority.BULK, reason="r", at=T0)
            await push_attempted(db, device, 1, T0 + timedelta(seconds=10 - n))
        await push_attempted(db, "later", 1, T0 + timedelta(hours=1))
        await plan_push(db, "s1", H1, priority=Priority.SINGLE, reason="r", at=T0)
        await plan_push(db, "staff", H1, priority=Priority.STAFF, reason="r", at=T0)
        now = T0 + timedelta(seconds=20)
        every = await due_pushes(db, now, limit=10)
        first = await due_pushes(db, now, limit=3)
        urgent = await due_pushes(db, now, limit=10, below=Priority.BULK)
    assert [p.device_id for p in every] == ["staff", "s1", "b3", "b2", "b1"]
    assert [p.device_id for p in first] == ["staff", "s1", "b3"]
    assert [p.device_id for p in urgent] == ["staff", "s1"]
