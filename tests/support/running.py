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
    """Cancel until done, and fail (never hang) if a task will not end.

    On Python 3.11 a cancel can be lost (asyncio.wait_for meeting its result, a TaskGroup ending
    on an error): the product's MQTT loops guard against that (device_sim/mqtt.py,
    controller/link.py). Repeating the cancel helps only where the lost one was the task's own:
    a TaskGroup passes a cancel on to its tasks once. A task still running after every try is a
    bug; the test fails naming it and where it waits, instead of the run hanging here."""
    pending = set(tasks)
    for _ in range(CANCEL_TRIES):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_WAIT_S)
        if not pending:
            break
    if pending:
        raise AssertionError(f"background tasks ignored every cancel: {_where(pending)}")
    await asyncio.gather(*tasks, return_exceptions=True)


def _where(stuck: set[asyncio.Task[Any]]) -> str:
    """Every unfinished task of the loop (the stuck one may wait on a child) and where it waits."""
    lines = []
    for task in asyncio.all_tasks():
        if task.done() or task is asyncio.current_task():
            continue
        frames = task.get_stack()  # oldest first: the last is where it waits
        where = f"{frames[-1].f_code.co_filename}:{frames[-1].f_lineno}" if frames else "?"
        mark = "*" if task in stuck else " "
        lines.append(f"{mark} {task.get_name()} at {where}")
    return "\n" + "\n".join(lines)
