"""Units of work (state/units.py): one hop, one transaction, database.transaction's failures."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from controller.state.database import StorageFault, open_database, transaction
from controller.state.units import run_read, run_rederivable_unit, run_unit

INSERT = (
    "INSERT INTO audit_log (at, actor, action, target, detail)"
    " VALUES ('2026-01-01T00:00:00+00:00', ?, 'a', 'x', '{}')"
)


def _write(db: sqlite3.Connection, actor: str, *, fail: bool = False) -> bool:
    db.execute(INSERT, (actor,))
    if fail:
        raise ValueError("the unit failed after its write")
    return db.in_transaction


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])


async def test_a_unit_runs_in_one_transaction_and_commits(tmp_path):
    """The unit sees its own transaction; its write is committed when run_unit returns."""
    async with open_database(tmp_path / "s.db") as conn:
        assert await run_unit(conn, _write, "a") is True
        assert not conn.in_transaction
        assert await run_read(conn, _count) == 1


async def test_a_failing_unit_is_rolled_back(tmp_path):
    """An exception in the unit undoes its writes and reaches the caller."""
    async with open_database(tmp_path / "s.db") as conn:
        with pytest.raises(ValueError, match="after its write"):
            await run_unit(conn, _write, "a", fail=True)
        assert not conn.in_transaction
        assert await run_read(conn, _count) == 0


async def test_a_unit_inside_a_transaction_joins_it(tmp_path):
    """Called inside the task's transaction, the unit commits or rolls back with it."""
    async with open_database(tmp_path / "s.db") as conn:

        async def outer() -> None:
            async with transaction(conn):
                await run_unit(conn, _write, "a")
                raise RuntimeError("the outer work failed")

        with pytest.raises(RuntimeError):
            await outer()
        assert await run_read(conn, _count) == 0


async def test_units_of_two_tasks_do_not_mix_with_a_transaction(tmp_path):
    """A unit waits for another task's open transaction instead of running inside it."""
    async with open_database(tmp_path / "s.db") as conn:
        holding = asyncio.Event()
        release = asyncio.Event()

        async def other() -> None:
            async with transaction(conn):
                await conn.execute(INSERT, ("other",))
                holding.set()
                await release.wait()
                raise RuntimeError("rolled back")

        task = asyncio.create_task(other())
        await holding.wait()
        unit = asyncio.create_task(run_unit(conn, _write, "unit"))
        await asyncio.sleep(0.05)
        assert not unit.done()
        release.set()
        with pytest.raises(RuntimeError):
            await task
        await unit
        assert await run_read(conn, _count) == 1


async def test_a_cancelled_unit_leaves_no_transaction_open(tmp_path):
    """Cancelled while queued or running, the unit still ends its own transaction."""
    async with open_database(tmp_path / "s.db") as conn:
        for _ in range(20):
            task = asyncio.create_task(run_unit(conn, _write, "a"))
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await run_unit(conn, _write, "b")
        assert not conn.in_transaction


def _fill(db: sqlite3.Connection) -> None:
    db.executemany(INSERT, [("x" * 2000,)] * 2000)


async def test_a_full_database_is_a_storage_fault(tmp_path):
    """A unit that meets a full database raises StorageFault; the connection works after."""
    async with open_database(tmp_path / "s.db", max_bytes=256 * 1024) as conn:
        with pytest.raises(StorageFault):
            await run_unit(conn, _fill)
        assert not conn.in_transaction
        await run_unit(conn, _write, "small")


def _write_and_level(db: sqlite3.Connection, actor: str, *, fail: bool = False) -> int:
    """Write, then say the synchronous level this transaction will commit with."""
    _write(db, actor, fail=fail)
    return int(db.execute("PRAGMA synchronous").fetchone()[0])


async def test_a_rederivable_unit_commits_without_waiting_for_the_disk_and_only_it(tmp_path):
    """A rederivable unit commits at synchronous=NORMAL (1), the units before and after it and
    one that fails at FULL (2); its write is committed like any unit's."""
    async with open_database(tmp_path / "s.db") as conn:
        assert await run_unit(conn, _write_and_level, "a") == 2
        assert await run_rederivable_unit(conn, _write_and_level, "b") == 1
        assert await run_unit(conn, _write_and_level, "c") == 2
        with pytest.raises(ValueError, match="after its write"):
            await run_rederivable_unit(conn, _write_and_level, "d", fail=True)
        assert await run_unit(conn, _write_and_level, "e") == 2
        assert not conn.in_transaction
        assert await run_read(conn, _count) == 4
    async with open_database(tmp_path / "s.db") as conn:  # and it is in the file
        assert await run_read(conn, _count) == 4
