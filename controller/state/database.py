"""Opening the state database: SQLite in WAL mode with synchronous=FULL, migrated on open.

synchronous=FULL makes a committed transaction survive a power cut, not just a crash: a catalog
change is acknowledged to HQ only after its commit returns, so the commit must be on disk.

The database and its -wal and -shm files are readable by their owner only (0600): they hold the
API token hashes, the audit log and the store's prices before they apply. SQLite creates -wal and
-shm with the database file's permissions, so creating the database 0600 is enough; an older,
looser database is tightened when it is opened.

A full disk (or a full database: `max_bytes`) is not a bad message: `StorageFault` marks the
errors that no retry of the same work can get past (full, I/O error, read-only, corrupt). Code
that quarantines failing work lets them through, and the controller stops on them (a supervisor
restarts it once there is room; nothing unacknowledged was lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
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


class StorageFault(ControllerError):
    """The state database cannot take writes (disk or database full, I/O error, read-only,
    corrupt): the controller cannot work until someone fixes the storage."""


_STORAGE_FAULTS = frozenset(
    {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    }
)


def is_storage_fault(exc: BaseException) -> bool:
    """Whether `exc` says the storage itself failed (not the statement or the data)."""
    if isinstance(exc, StorageFault):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_FAULTS


PRIVATE_FILE = 0o600
_SIDE_FILES = ("-wal", "-shm")


def _make_private(path: Path) -> None:
    """Create the database file 0600 if missing, and tighten it and its -wal and -shm files.

    Never opens an existing database file: closing any descriptor of a file drops every POSIX
    lock this process holds on it, SQLite's included, and another process could then take its
    connections for gone and checkpoint and remove the WAL under them (their commits lost).
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for file in (path, *(path.with_name(path.name + side) for side in _SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            file.chmod(mode & 0o700)
        except PermissionError as exc:  # not our file: say so, but it may still be usable
            log.warning("cannot make %s private (mode %o): %s", file, mode, exc.strerror)


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
async def open_database(
    path: Path | str, *, max_bytes: int | None = None
) -> AsyncIterator[aiosqlite.Connection]:
    """The migrated state database at `path` (created 0600 if missing), closed on exit.

    `max_bytes` caps the database's size on this connection (SQLite's max_page_count): past it,
    writes fail with "database or disk is full", as on a full disk.
    """
    if isinstance(path, Path):
        # Checked here (one stat at start-up): aiosqlite's thread would die noisily on it.
        if path.is_dir():  # noqa: ASYNC240
            raise ControllerError(f"cannot open the state database {path}: it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _make_private(path)
        except OSError as exc:
            raise ControllerError(f"cannot open the state database {path}: {exc}") from exc
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise ControllerError(f"cannot open the state database {path}: {exc}") from exc
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {DURABLE_LEVEL}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await migrate(conn)
        if max_bytes is not None:
            async with conn.execute("PRAGMA page_size") as cursor:
                row = await cursor.fetchone()
            page_size = int(row[0]) if row else 4096
            await conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")
        yield conn
    finally:
        await conn.close()


SLOW_TRANSACTION_S = 0.1
DURABLE_LEVEL = "FULL"  # a committed transaction survives a power cut
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


def writer_of(conn: aiosqlite.Connection) -> _Writer:
    """The connection's one writer lock, shared by `transaction` and state/units.py."""
    return _writers.setdefault(conn, _Writer())


@asynccontextmanager
async def transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception): one writer at a time."""
    writer = writer_of(conn)
    task = asyncio.current_task()
    if writer.owner is not None and writer.owner is task:
        yield  # nested: part of the caller's transaction
        return
    waiting = time.perf_counter()
    async with writer.lock:
        writer.owner = task
        started = time.perf_counter()
        try:
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                # Cancelled (a lost MQTT connection ends its handler) while the BEGIN waited for
                # or ran on the connection's thread: it runs all the same, and the connection
                # would stay inside a transaction that no task owns ("cannot start a
                # transaction within a transaction" at the next BEGIN). Statements run in
                # order, so a ROLLBACK sent after it ends it.
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
            try:
                yield
            except BaseException as exc:
                await _rollback(conn)
                if is_storage_fault(exc) and not isinstance(exc, StorageFault):
                    raise StorageFault(f"the state database cannot take writes: {exc}") from exc
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                # A failed COMMIT (a full disk) may leave the transaction open: roll it back,
                # or every later BEGIN of this connection fails too.
                await _rollback(conn)
                if is_storage_fault(exc):
                    raise StorageFault(f"the state database cannot take writes: {exc}") from exc
                raise
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


async def _rollback(conn: aiosqlite.Connection) -> None:
    if conn.in_transaction:  # SQLite may have rolled back already (a full disk, an I/O error)
        await conn.execute("ROLLBACK")
