"""A transaction cancelled while its BEGIN waits on the connection's thread leaves no open
transaction behind (the chaos run's "cannot start a transaction within a transaction")."""

from __future__ import annotations

import asyncio

from controller.state.database import open_database, transaction


async def test_a_cancelled_begin_does_not_leave_the_connection_in_a_transaction(tmp_path):
    """The next transaction of the connection begins and commits normally."""
    async with open_database(tmp_path / "state.db") as conn:

        async def write() -> None:
            async with transaction(conn):
                await conn.execute(
                    "INSERT INTO audit_log (at, actor, action, target, detail)"
                    " VALUES ('2026-01-01T00:00:00+00:00', 't', 'a', 'x', '{}')"
                )

        for _ in range(20):  # cancelled at once: the BEGIN is queued, then runs anyway
            task = asyncio.create_task(write())
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with transaction(conn):
                await conn.execute("SELECT 1")
        assert not conn.in_transaction
