"""A controller running in the background of the caller: `omnishelf serve`, the API's lifespan,
the demo and the tests all start it this way."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

import aiosqlite

from controller.runtime import Controller
from controller.settings import Settings
from controller.state.database import open_database
from controller.state.ownership import owning_state
from label_renderer.batch import BatchRenderer

READY_TIMEOUT_S = 30.0
# The exit status of a command whose controller stopped on its own (a full disk, a failed stage):
# a supervisor restarts it (docs/reliability.md).
EXIT_STOPPED = 3
_runs: weakref.WeakKeyDictionary[Controller, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def run_task_of(controller: Controller) -> asyncio.Task[None] | None:
    """The task running the controller's stages, if `running_controller` started it (/readyz)."""
    return _runs.get(controller)


@contextlib.asynccontextmanager
async def running_controller(
    settings: Settings, *, workers: int | None = None
) -> AsyncIterator[Controller]:
    """Open the state database and the renderer, run the controller until the block ends.

    Yields once both MQTT sessions are connected. A crash of the controller's tasks cancels the
    block's task (the TaskGroup's exception is raised from here). StateInUse if another process
    runs a controller on the same database (controller/state/ownership.py).
    """
    max_bytes = settings.state_db_max_mb * 2**20 if settings.state_db_max_mb else None
    with owning_state(settings.state_db):
        async with (
            open_database(settings.state_db, max_bytes=max_bytes) as conn,
            # The render and push stages read on a second connection: its own thread, so their
            # reads do not queue behind the writes of a store's reports (WAL: readers never block).
            open_database(settings.state_db) as reader,
            _controller(settings, conn, reader, workers) as controller,
        ):
            yield controller


@contextlib.asynccontextmanager
async def _controller(
    settings: Settings,
    conn: aiosqlite.Connection,
    reader: aiosqlite.Connection,
    workers: int | None,
) -> AsyncIterator[Controller]:
    with BatchRenderer(workers or settings.render_workers) as renderer:
        controller = Controller(settings, conn, renderer, reader=reader)
        async with asyncio.TaskGroup() as tasks:
            run = tasks.create_task(controller.run(), name="controller")
            _runs[controller] = run
            ready = asyncio.ensure_future(controller.ready.wait())
            done, _ = await asyncio.wait(
                {run, ready}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                run.cancel()
                if run in done:
                    run.result()  # the controller failed: raise why
                raise TimeoutError(f"controller not connected to {settings.broker_url}")
            try:
                yield controller
            finally:
                run.cancel()


def failure_reason(exc: BaseException) -> str:
    """Why a controller stopped, in one line: the leaves of the exception groups its TaskGroups
    raised, each once."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(failure_reason(inner) for inner in exc.exceptions))
    return f"{type(exc).__name__}: {exc}"
