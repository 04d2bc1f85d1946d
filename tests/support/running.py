"""Run background coroutines for the length of a test block, then cancel and await them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

CANCEL_TRIES = 60
CANCEL_WAIT_S = 0.5


@contextlib.asynccontextmanager
async def running(*coros: Coroutine[Any, Any, Any]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        yield
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        await _cancelled(tasks)


async def _cancelled(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel until done. On Python 3.11 a cancel can be lost: a TaskGroup whose body is
    cancelled while one of its tasks fails raises that failure instead of the CancelledError,
    and a reconnect loop takes it for a lost connection and reconnects (make test hung in a
    simulator's teardown). A cancel repeated a moment later lands elsewhere and ends it."""
    pending = set(tasks)
    for _ in range(CANCEL_TRIES):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_WAIT_S)
        if not pending:
            break
    await asyncio.gather(*tasks, return_exceptions=True)
