"""Labels' reports are judged before they count (PROTOCOL.md §4.7; state/revisions_repo.py).

A report that claims a revision above the desired one, or a content hash this controller never
sent for that revision, is not recorded as what the label shows. Instead:
- a warning is logged and the label gets a problem (the problems list; the price-accuracy audit
  lists it too, because what it shows is unknown again);
- a corrective push goes out: the desired content as a revision above the one claimed.
A label that keeps lying must not make a push storm: corrections for one label back off,
CORRECTION_FIRST_S doubling to CORRECTION_CAP_S; reports in between are counted and dropped,
with at most one log line per window. The backoff is in memory: a restart starts it over,
which costs one correction per label.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from controller.state.fleet_repo import set_problem
from controller.state.revisions_repo import ReportFacts, correct_label, report_facts
from firmware_protocol.messages import Reported
from firmware_protocol.topics import DeviceAddress

log = logging.getLogger(__name__)

CORRECTION_FIRST_S = 30.0
CORRECTION_CAP_S = 3600.0
UNTRUSTED_PROBLEM = "untrusted report"
NO_FACTS = ReportFacts(0, None, 0, None)  # a label without state: only the range is checked


@dataclass(slots=True)
class _Corrections:
    made: int = 0
    next_at: float = 0.0
    dropped: int = 0  # reports not believed since the last correction


@dataclass(frozen=True, slots=True)
class Doubted:
    address: DeviceAddress
    reported: Reported
    why: str


class ReportCheck:
    def __init__(self, conn: aiosqlite.Connection, *, clock: Callable[[], datetime]) -> None:
        self.conn = conn
        self.clock = clock
        self._corrections: dict[str, _Corrections] = {}
        self.doubted = 0  # reports not believed, since start
        self.corrections = 0  # corrective pushes made, since start

    async def sort(
        self, reports: Sequence[tuple[DeviceAddress, Reported]]
    ) -> tuple[list[tuple[DeviceAddress, Reported]], list[Doubted]]:
        """The credible reports (in order) and the doubted ones."""
        facts = await report_facts(self.conn, [(a.device, r.revision) for a, r in reports])
        credible: list[tuple[DeviceAddress, Reported]] = []
        doubted: list[Doubted] = []
        for address, reported in reports:
            known = facts.get(address.device, NO_FACTS)
            why = known.doubt(reported.revision, reported.content_hash)
            if why is None:
                credible.append((address, reported))
            else:
                doubted.append(Doubted(address, reported, why))
        return credible, doubted

    async def answer(self, doubted: Sequence[Doubted]) -> int:
        """Problems and corrective pushes for reports not believed; returns the pushes made."""
        made = 0
        for item in doubted:
            self.doubted += 1
            device_id = item.address.device
            state = self._corrections.setdefault(device_id, _Corrections())
            now = time.monotonic()
            if now < state.next_at:
                state.dropped += 1
                continue
            revision = await correct_label(
                self.conn, device_id, item.reported.revision, self.clock()
            )
            log.warning(
                "%s: report not believed (%s, via %s; %d more dropped since the last one);"
                " correction: %s",
                device_id,
                item.why,
                item.address.gateway,
                state.dropped,
                f"revision {revision}" if revision is not None else "none possible",
            )
            await set_problem(
                self.conn, device_id, f"{UNTRUSTED_PROBLEM}: {item.why}", self.clock()
            )
            delay = min(CORRECTION_CAP_S, CORRECTION_FIRST_S * 2**state.made)
            state.made, state.next_at, state.dropped = state.made + 1, now + delay, 0
            if revision is not None:
                made += 1
                self.corrections += 1
        return made
