"""The controller's log line while labels converge: "converging: 4,000 / 20,000 labels confirmed,
~45 s left", every EVERY_S while it moves.

Reads one count query (state/labels_repo.py `convergence_counts`) on the reader connection every
EVERY_S, never per label, and feeds controller/convergence.py. A line is written when the counts
changed since the last one; a store where a few labels stay unconfirmed (offline, broken) does
not repeat the same line forever, but one with many unconfirmed labels repeats it every
STUCK_EVERY_S, so that a stuck store says so.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable

import aiosqlite

from controller.convergence import ConvergenceEstimate, Counts, Progress
from controller.state.labels_repo import convergence_counts

log = logging.getLogger("controller.convergence")

EVERY_S = 5.0
STUCK_EVERY_S = 60.0
MANY = 0.01  # of the store's labels unconfirmed: repeat an unchanged line


class ConvergenceLog:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = EVERY_S,
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.every_s = every_s
        self.estimate = ConvergenceEstimate()
        self._logged: Counts | None = None
        self._logged_at = float("-inf")
        self.last: Progress | None = None

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except (sqlite3.Error, ValueError) as exc:  # a busy or closing database: next time
                log.warning("could not count converged labels: %s", exc)
            await asyncio.sleep(self.every_s)

    async def tick(self) -> Progress:
        """Read the counts, update the estimate, log a line if one is due."""
        now = self.clock()
        counts = await convergence_counts(self.conn)
        progress = self.last = self.estimate.observe(now, counts)
        if counts.unconfirmed == 0:
            if self._logged is not None and self._logged.unconfirmed > 0:
                log.info("converged: all %s labels confirmed", f"{counts.total:,}")
            self._logged = counts
            return progress
        changed = self._logged is None or (counts.confirmed, counts.rendered, counts.total) != (
            self._logged.confirmed,
            self._logged.rendered,
            self._logged.total,
        )
        many = counts.unconfirmed > MANY * counts.total
        if changed or (many and now - self._logged_at >= STUCK_EVERY_S):
            log.info("converging: %s", progress.describe())
            self._logged, self._logged_at = counts, now
        return progress
