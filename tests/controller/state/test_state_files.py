"""The state database's files: private to their owner, and one process owns them."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from controller.state.database import open_database, transaction
from controller.state.ownership import StateInUse, lock_path, owning_state

PEEK = """
import sqlite3, sys

conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
conn.close()
"""
HOLDER = """
import sys, time
from pathlib import Path
from controller.state.ownership import owning_state

with owning_state(Path(sys.argv[1])):
    print("owned", flush=True)
    time.sleep(60)
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_finding_8_state_files_are_private(tmp_path: Path) -> None:
    """A new state database, its -wal and -shm and the lock file are 0600 (they were 0644:
    token hashes and the audit log readable by every user of the machine)."""
    db = tmp_path / "state.db"
    with owning_state(db):
        async with open_database(db) as conn:
            async with transaction(conn):
                await conn.execute("CREATE TABLE probe (x TEXT)")
            for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), lock_path(db)):
                assert _mode(path) == 0o600, path


async def test_a_loose_state_database_is_tightened_when_opened(tmp_path: Path) -> None:
    """A database an older version left world-readable is 0600 once a controller opens it."""
    db = tmp_path / "state.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    async with open_database(db):
        assert _mode(db) == 0o600


async def test_opening_the_database_twice_in_one_process_keeps_every_commit(
    tmp_path: Path,
) -> None:
    """A second connection in the same process (the controller's reader) must not drop the
    first one's SQLite locks: another process opening and closing the database would take it
    for gone and remove the WAL, and the first connection's later commits were lost."""
    db = tmp_path / "state.db"
    async with open_database(db) as writer, open_database(db):
        peek = await asyncio.create_subprocess_exec(sys.executable, "-c", PEEK, str(db))
        assert await asyncio.wait_for(peek.wait(), 30) == 0
        async with transaction(writer):
            await writer.execute("CREATE TABLE probe (x TEXT)")
            await writer.execute("INSERT INTO probe VALUES ('kept')")
        other = sqlite3.connect(db)
        try:
            assert other.execute("SELECT x FROM probe").fetchall() == [("kept",)]
        finally:
            other.close()


def test_finding_8_a_second_owner_of_a_state_database_is_refused(tmp_path: Path) -> None:
    """While one process owns a state database, another gets StateInUse naming its pid; the
    lock goes with the process, so a new owner may take it after."""
    db = tmp_path / "state.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "owned\n"
        with pytest.raises(StateInUse, match=f"pid {holder.pid}"), owning_state(db):
            pass
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with owning_state(db), owning_state(db):  # this process, once the other is gone
        assert lock_path(db).exists()
