"""The chaos run's stall watch reads the controller's work from its database: what is due now
and what the controller put off on purpose (a retry's backoff, an offline label's push)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.chaos import Work, work_in_db
from controller.state.database import open_database
from controller.state.labels_repo import Priority, pushes_attempted
from controller.state.render_queue import enqueue_labels

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


async def test_a_push_put_off_is_pending_but_not_due(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with open_database(db) as conn:
        await enqueue_labels(conn, ["L-1"], priority=Priority.SINGLE, reason="t", at=NOW)
        for device_id, next_at in (("L-2", NOW), ("L-3", NOW + timedelta(seconds=40))):
            await conn.execute(
                "INSERT INTO outbox (device_id, revision, priority, reason, enqueued_at,"
                " attempts, next_attempt_at) VALUES (?, 1, 1, 't', ?, 0, ?)",
                (device_id, NOW.isoformat(), next_at.isoformat()),
            )
        await conn.commit()
        work = work_in_db(db, NOW)
        assert work == Work(to_render=1, pushes_due=1, pushes_later=1)
        assert work.due == 2
        assert str(work) == "1 to render, 1 pushes due, 1 put off"
        # The attempt made, its retry backs off: only the render is due now.
        await pushes_attempted(conn, [("L-2", 1, NOW + timedelta(seconds=20))])
        assert work_in_db(db, NOW) == Work(to_render=1, pushes_due=0, pushes_later=2)
        assert work_in_db(db, NOW + timedelta(seconds=41)).pushes_due == 2
