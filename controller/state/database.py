"""Opening the state database: SQLite in WAL mode with synchronous=FULL, migrated on open.

synchronous=FULL makes a committed transaction survive a power cut, not just a crash: a catalog
change is acknowledged to HQ only after its commit returns, so the commit must be on disk.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from controller.errors import ControllerError
from controller.state.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)


class SchemaTooNew(ControllerError):
    """The database was written by a newer omnishelf; refusing to guess at its meaning."""


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply the migrations this database has not seen; returns the resulting version."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {current} is newer than this controller's {SCHEMA_VERSION}"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        # executescript commits first; BEGIN/COMMIT make each migration all-or-nothing
        await conn.executescript(
            f"BEGIN;\n{MIGRATIONS[version - 1]}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
    return SCHEMA_VERSION


@asynccontextmanager
async def open_database(path: Path | str) -> AsyncIterator[aiosqlite.Connection]:
    """The migrated state database at `path` (created if missing), closed on exit."""
    if isinstance(path, Path):
        # Checked here (one stat at start-up): aiosqlite's thread would die noisily on it.
        if path.is_dir():  # noqa: ASYNC240
            raise ControllerError(f"cannot open the state database {path}: it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise ControllerError(f"cannot open the state database {path}: {exc}") from exc
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await migrate(conn)
        yield conn
    finally:
        await conn.close()


SLOW_TRANSACTION_S = 0.1
MAX_PARAMETERS = 500  # well under SQLite's limit on host parameters per statement


def in_chunks(values: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """`values` in parts small enough for one `IN (...)`, each with its "?,?,..." placeholders."""
    for start in range(0, len(values), MAX_PARAMETERS):
        part = list(values[start : start + MAX_PARAMETERS])
        yield part, ",".join("?" * len(part))


class _Writer:
    """Serialises transactions of the tasks that share one connection.

    aiosqlite runs every statement of a connection on one thread, so two tasks that each BEGIN
    would interleave their statements in one SQLite transaction. The lock makes a transaction
    belong to one task; a nested `transaction` in the same task joins the outer one, so a
    repository function can be called on its own or as part of a larger unit of work.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[object] | None = None


_writers: weakref.WeakKeyDictionary[aiosqlite.Connection, _Writer] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception): one writer at a time."""
    writer = _writers.setdefault(conn, _Writer())
    task = asyncio.current_task()
    if writer.owner is not None and writer.owner is task:
        yield  # nested: part of the caller's transaction
        return
    waiting = time.perf_counter()
    async with writer.lock:
        writer.owner = task
        started = time.perf_counter()
        try:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
        finally:
            writer.owner = None
            held = time.perf_counter() - started
            if held > SLOW_TRANSACTION_S:  # every other task's writes waited this long
                log.info(
                    "transaction of %s held the database %.0f ms (after waiting %.0f ms)",
                    task.get_name() if task else "?",
                    1000 * held,
                    1000 * (started - waiting),
                )
