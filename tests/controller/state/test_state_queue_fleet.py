"""The render queue and the device health records in a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.errors import ControllerError
from controller.state import render_queue
from controller.state.database import open_database
from controller.state.devices_repo import register_device
from controller.state.fleet_repo import (
    BirthFacts,
    DeviceFilter,
    list_devices,
    record_birth,
    record_death,
    record_telemetry,
    set_problem,
)
from controller.state.labels_repo import Priority, due_pushes, plan_push, postpone_offline

T0 = datetime(2026, 11, 22, 9, tzinfo=UTC)


def _facts(session: int, gateway: str = "ap-1") -> BirthFacts:
    return BirthFacts(gateway, 0x0102, session, "1.0.0", 3000, 4096, 2, 40)


async def test_render_queue_orders_by_priority_and_keeps_a_newer_enqueue(tmp_path):
    """Staff work comes first; a row enqueued again while rendering survives `done`."""
    async with open_database(tmp_path / "s.db") as db:
        await render_queue.enqueue_labels(db, ["a", "b"], priority=Priority.BULK, reason="r", at=T0)
        later = T0 + timedelta(seconds=1)
        await render_queue.enqueue_labels(db, ["c"], priority=Priority.STAFF, reason="s", at=later)
        taken = await render_queue.take(db, 10)
        assert [q.device_id for q in taken] == ["c", "a", "b"]
        await render_queue.enqueue_labels(db, ["a"], priority=Priority.BULK, reason="r2", at=later)
        await render_queue.done(db, taken)
        left = await render_queue.take(db, 10)
    assert [(q.device_id, q.reason) for q in left] == [("a", "r2")]


async def test_enqueue_keeps_the_most_urgent_priority_and_any_force(tmp_path):
    """A bulk enqueue after a forced staff one neither demotes nor unforces it."""
    async with open_database(tmp_path / "s.db") as db:
        await render_queue.enqueue_labels(
            db, ["a"], priority=Priority.STAFF, reason="relabel", at=T0, force=True
        )
        await render_queue.enqueue_labels(db, ["a"], priority=Priority.BULK, reason="bulk", at=T0)
        (queued,) = await render_queue.take(db, 10)
    assert (queued.priority, queued.force) == (Priority.STAFF, True)


async def test_a_late_death_of_an_older_session_does_not_mark_the_device_offline(tmp_path):
    """Births and deaths are ordered by session (PROTOCOL.md §4.6)."""
    async with open_database(tmp_path / "s.db") as db:
        await record_birth(db, "l1", _facts(1), T0, adopt=True)
        await record_birth(db, "l1", _facts(2), T0, adopt=False)
        assert not await record_death(db, "l1", 1, T0)
        (online,) = await list_devices(db, DeviceFilter(offline=False))
        assert (online.session, online.adopted) == (2, True)  # adoption is kept
        assert await record_death(db, "l1", 2, T0)
        assert [d.device_id for d in await list_devices(db, DeviceFilter(offline=True))] == ["l1"]


async def test_health_filters(tmp_path):
    """Low battery, weak signal and failed devices are listed by their filters."""
    async with open_database(tmp_path / "s.db") as db:
        for name in ("ok", "weak", "low", "failed"):
            await record_birth(db, name, _facts(1), T0, adopt=True)
        await record_telemetry(db, "ok", battery_mv=2900, rssi=-60, at=T0)
        await record_telemetry(db, "weak", battery_mv=2900, rssi=-92, at=T0)
        await record_telemetry(db, "low", battery_mv=2300, rssi=-60, at=T0)
        await set_problem(db, "failed", "panel refresh failed", T0)

        async def names(**filters: bool) -> list[str]:
            return [d.device_id for d in await list_devices(db, DeviceFilter(**filters))]

        assert await names(weak_signal=True) == ["weak"]
        assert await names(low_battery=True) == ["low"]
        assert await names(failed=True) == ["failed"]
        assert "failed" not in await names(failed=False)


async def test_a_live_birth_with_a_lower_session_is_taken_a_replayed_one_is_not(tmp_path):
    """A reset unit restarts its session counter and is still managed; an old retained Birth
    replayed at subscribe time does not move the device back to its old gateway."""
    async with open_database(tmp_path / "s.db") as db:
        await record_birth(db, "l1", _facts(5, "ap-1"), T0, adopt=True)
        assert (
            await record_birth(db, "l1", _facts(3, "ap-2"), T0, adopt=False, replayed=True) is None
        )
        reset = await record_birth(db, "l1", _facts(1, "ap-2"), T0, adopt=False)
    assert reset is not None
    assert (reset.session, reset.gateway_id, reset.adopted) == (1, "ap-2", True)


async def test_a_directory_is_refused_as_the_state_database(tmp_path):
    """Pointing the state database at a directory is a clear error, not a crash."""
    with pytest.raises(ControllerError, match="is a directory"):
        async with open_database(tmp_path):
            pass


async def test_a_push_is_not_put_off_for_a_label_that_came_online_meanwhile(tmp_path):
    """The push round read the label as offline, then its Birth was recorded: the push stays
    due (found in the demo: 2 of 3,000 labels waited 5 minutes for their first image)."""
    later = T0 + timedelta(minutes=5)
    async with open_database(tmp_path / "s.db") as db:
        for name in ("back", "away"):
            await register_device(db, name, model=0x0102, gateway_id="ap-1", adopted=True)
            await plan_push(db, name, b"\x01" * 16, priority=Priority.BULK, reason="r", at=T0)
        await record_birth(db, "back", _facts(1), T0, adopt=False)
        await postpone_offline(db, [("back", 1, later), ("away", 1, later)])
        due = await due_pushes(db, T0, limit=10)
    assert [push.device_id for push in due] == ["back"]
