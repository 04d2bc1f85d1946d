"""Units of work: a named, synchronous function run whole on the database's own thread.

Why: aiosqlite runs every statement on one thread, and each `await conn.execute(...)` is a hop
from the event loop to that thread and back (a future, a queue, a wake-up). A device batch of
2,000 births cost ~10,000 hops, paid on the event loop and holding the write lock across every
one of them. A unit makes the whole batch one hop: the function gets the raw `sqlite3`
connection and plain data, runs its statements back to back, and returns plain data saying what
the async code must do next (publish a Rebirth, delete a moved label's retained documents).

The interface, so that another backend (PostgreSQL, the chain-scale issue) can implement the
same units:
- a unit is a module-level function `name(db, *plain_args) -> plain_result`; it does no I/O but
  the database's and keeps no state between calls; its arguments and result are frozen
  dataclasses, tuples, strings and numbers (no connection objects, no futures);
- `run_unit(conn, unit, *args)` runs it in one write transaction (BEGIN IMMEDIATE ... COMMIT,
  ROLLBACK on any exception), serialised with every other writer of the connection
  (database.transaction's lock); called inside a `transaction` of the same task it joins it;
- `run_read(conn, unit, *args)` runs a read-only unit in one hop, outside any transaction;
- `run_rederivable_unit(conn, unit, *args)` is `run_unit` for facts the broker still holds
  (retained Births, Deaths and Reported documents, re-read at every subscribe): its commit does
  not wait for the disk (`synchronous=NORMAL` for that commit only). After a crash it is there;
  after a power cut it may be gone, and the retained documents bring it back at the next start.
  A later durable commit makes it durable too (the WAL is synced up to that commit). The fsync
  of each small device-message batch cost ~70 us of the database thread's CPU and ~100 us of
  its time (ext4), and a reprice brings thousands of them.
A PostgreSQL implementation would run the same function bodies over its own driver in a worker
thread (or port them to asyncpg) behind these two calls; the callers do not change.

Cancelling the awaiting task never leaves the connection inside a transaction: BEGIN, the
statements and COMMIT (or ROLLBACK) run in the one call on the thread, which finishes whatever
happens to its caller (the cancelled-BEGIN case of database.transaction cannot arise). The
failures keep database.transaction's meaning: a storage failure becomes `StorageFault`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import aiosqlite

from controller.state.database import (
    DURABLE_LEVEL,
    SLOW_TRANSACTION_S,
    StorageFault,
    is_storage_fault,
    writer_of,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

Unit = Callable[Concatenate[sqlite3.Connection, P], R]


async def _on_thread(conn: aiosqlite.Connection, call: Callable[[], R]) -> R:
    """The one place that reaches into aiosqlite: `Connection._execute(fn)` runs `fn` on the
    connection's own thread, after every statement queued before it (aiosqlite 0.17-0.21)."""
    execute = cast(Any, conn)._execute
    return cast(R, await execute(call))


def _raw(conn: aiosqlite.Connection) -> sqlite3.Connection:
    return cast(sqlite3.Connection, cast(Any, conn)._conn)


async def run_read(
    conn: aiosqlite.Connection, unit: Unit[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run a read-only unit in one hop (on the reader connection, or the writer's)."""
    return await _on_thread(conn, lambda: unit(_raw(conn), *args, **kwargs))


def _in_transaction(db: sqlite3.Connection, call: Callable[[], R], *, durable: bool = True) -> R:
    """BEGIN IMMEDIATE, the unit, COMMIT; ROLLBACK on any exception. Runs on the thread. Not
    `durable`: that commit does not wait for the disk (the level cannot change inside a
    transaction, so it is set around it and restored)."""
    if not durable:
        db.execute("PRAGMA synchronous = NORMAL")
    try:
        return _transaction(db, call)
    finally:
        if not durable:
            db.execute(f"PRAGMA synchronous = {DURABLE_LEVEL}")


def _transaction(db: sqlite3.Connection, call: Callable[[], R]) -> R:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = call()
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (a full disk)
            db.execute("ROLLBACK")
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.Error:
        # A failed COMMIT (a full disk) may leave the transaction open: roll it back, or every
        # later BEGIN of this connection fails too.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


async def run_unit(
    conn: aiosqlite.Connection, unit: Unit[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run `unit(db, *args)` on the connection's thread in one write transaction."""
    return await _run(conn, unit, True, *args, **kwargs)


async def run_rederivable_unit(
    conn: aiosqlite.Connection, unit: Unit[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """`run_unit` for facts the broker's retained documents hold too: committed without waiting
    for the disk (see the module's docstring)."""
    return await _run(conn, unit, False, *args, **kwargs)


async def _run(
    conn: aiosqlite.Connection, unit: Unit[P, R], durable: bool, *args: P.args, **kwargs: P.kwargs
) -> R:
    writer = writer_of(conn)
    task = asyncio.current_task()
    if writer.owner is not None and writer.owner is task:
        # Inside the caller's `transaction`: part of it, committed with it.
        return await _on_thread(conn, lambda: unit(_raw(conn), *args, **kwargs))
    waiting = time.perf_counter()
    async with writer.lock:
        writer.owner = task
        started = time.perf_counter()
        try:
            return await _on_thread(
                conn,
                lambda: _in_transaction(
                    _raw(conn), lambda: unit(_raw(conn), *args, **kwargs), durable=durable
                ),
            )
        except sqlite3.Error as exc:
            if is_storage_fault(exc):
                raise StorageFault(f"the state database cannot take writes: {exc}") from exc
            raise
        finally:
            writer.owner = None
            held = time.perf_counter() - started
            if held > SLOW_TRANSACTION_S:  # every other task's writes waited this long
                log.info(
                    "unit %s of %s held the database %.0f ms (after waiting %.0f ms)",
                    getattr(unit, "__name__", "?"),
                    task.get_name() if task else "?",
                    1000 * held,
                    1000 * (started - waiting),
                )
