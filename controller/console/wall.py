"""The store wall: every adopted label by aisle and shelf, showing what it displays, kept live.

Locations are what staff typed when linking ("Reyon 3 / Raf 2": aisle / shelf). A location that
does not parse that way is its own shelf under "Other"; labels with no location are grouped as
"Not placed". Aisles and shelves sort by their numbers, not as text (Reyon 10 after Reyon 9).

Live updates: one Server-Sent Events stream per open wall. It starts with every label's state
(the browser reloads only images whose version differs from the one it shows, so nothing is
missed between rendering the page and connecting, or while reconnecting); then every POLL_S it
reads one compact row per label (hashes, online, problem) and sends the labels whose row changed
since its last read. A stream ends after STREAM_MAX_S and the browser reconnects at once
(EventSource does): a server shutting down never waits long for open walls.
While linked labels are not all confirmed (a large store's first convergence, a reprice), the
stream also sends `event: progress`: counts and an estimate of the time left
(controller/convergence.py), from the rows it reads anyway.
It compares rows rather than keeping a `reported_at > last poll` watermark because a transaction
stamps its rows before it commits: a row stamped just before a poll but committed just after it
would be older than the watermark and never sent. The read is a single indexed scan of small
columns (~1 ms per 1,000 labels); the browser then reloads only the changed images.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import aiosqlite

from controller.convergence import ConvergenceEstimate, Counts
from controller.fleet import is_label

POLL_S = 0.5
HEARTBEAT_S = 15.0
STREAM_MAX_S = 30.0
NOT_PLACED = "Not placed"
OTHER = "Other"

_LOCATION = re.compile(r"^\s*(?P<aisle>[^/]*?\d+)\s*/\s*(?P<shelf>.*?\d+)\s*$")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True, slots=True)
class WallLabel:
    device_id: str
    location: str | None
    sku: str | None
    online: bool
    problem: str | None
    desired_hash: bytes | None
    reported_hash: bytes | None

    @property
    def version(self) -> str:
        """Changes whenever the displayed image may have: the image URL's cache buster."""
        return (self.reported_hash or b"").hex()[:16] or "blank"

    @property
    def stale(self) -> bool:
        """It should show another image than the one it reports."""
        return self.desired_hash is not None and self.desired_hash != self.reported_hash

    @property
    def marks(self) -> list[str]:
        found = []
        if not self.online:
            found.append("offline")
        if self.problem is not None:
            found.append("failed")
        if self.stale:
            found.append("stale")
        return found

    def event(self) -> dict[str, object]:
        return {"id": self.device_id, "v": self.version, "marks": self.marks}


@dataclass
class Shelf:
    name: str
    labels: list[WallLabel] = field(default_factory=list)


@dataclass
class Aisle:
    name: str
    shelves: dict[str, Shelf] = field(default_factory=dict)


_QUERY = (
    "SELECT d.device_id, d.model, d.location, d.online, d.problem, b.sku,"
    " s.desired_hash, s.reported_hash FROM devices d"
    " LEFT JOIN bindings b USING (device_id) LEFT JOIN label_state s USING (device_id)"
    " WHERE d.adopted = 1"
)


async def wall_labels(
    conn: aiosqlite.Connection, device_ids: Iterable[str] | None = None
) -> list[WallLabel]:
    """Every adopted label, or only those of `device_ids`."""
    query = _QUERY
    params: tuple[str, ...] = ()
    if device_ids is not None:
        params = tuple(device_ids)
        query += f" AND d.device_id IN ({','.join('?' * len(params))})"
    async with conn.execute(query, params) as cursor:
        rows = await cursor.fetchall()
    return [
        WallLabel(
            row["device_id"],
            row["location"],
            row["sku"],
            bool(row["online"]),
            row["problem"],
            row["desired_hash"],
            row["reported_hash"],
        )
        for row in rows
        if is_label(row["model"])
    ]


def _natural(text: str) -> tuple[str | int, ...]:
    """A sort key where "Raf 10" comes after "Raf 9" (digits alternate with text)."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(text.casefold()))


def split_location(location: str | None) -> tuple[str, str]:
    """(aisle, shelf) of a location as staff typed it."""
    if not location or not location.strip():
        return NOT_PLACED, NOT_PLACED
    matched = _LOCATION.match(location)
    if matched is None:
        return OTHER, location.strip()
    return matched["aisle"].strip(), matched["shelf"].strip()


def arrange(labels: list[WallLabel]) -> list[Aisle]:
    """Aisles in natural order (placed ones first), shelves within, labels by id."""
    aisles: dict[str, Aisle] = {}
    for label in sorted(labels, key=lambda one: _natural(one.device_id)):
        aisle_name, shelf_name = split_location(label.location)
        aisle = aisles.setdefault(aisle_name, Aisle(aisle_name))
        aisle.shelves.setdefault(shelf_name, Shelf(shelf_name)).labels.append(label)
    for aisle in aisles.values():
        aisle.shelves = dict(sorted(aisle.shelves.items(), key=lambda kv: _natural(kv[0])))

    def order(name: str) -> tuple[int, tuple[str | int, ...]]:
        return (1 if name in {OTHER, NOT_PLACED} else 0, _natural(name))

    return [aisles[name] for name in sorted(aisles, key=order)]


def _event(changed: list[WallLabel]) -> str:
    data = json.dumps([label.event() for label in changed], separators=(",", ":"))
    return f"event: labels\ndata: {data}\n\n"


def convergence_counts(labels: Iterable[WallLabel]) -> Counts:
    """The wall's rows counted as controller/convergence.py wants them (linked labels only)."""
    linked = [label for label in labels if label.sku is not None]
    rendered = [label for label in linked if label.desired_hash is not None]
    confirmed = sum(1 for label in rendered if label.reported_hash == label.desired_hash)
    return Counts(total=len(linked), confirmed=confirmed, rendered=len(rendered))


class WallProgress:
    """`event: progress` with "4,000 / 20,000 labels confirmed, ~45 s left" while labels are
    unconfirmed, and an empty text once they are all confirmed (the page hides the line). It
    counts the rows the stream reads anyway: no query of its own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.estimate = ConvergenceEstimate()
        self.sent: str | None = None

    def event(self, labels: Iterable[WallLabel]) -> str | None:
        progress = self.estimate.observe(self.clock(), convergence_counts(labels))
        text = "" if progress.done else progress.describe()
        if text == self.sent or (self.sent is None and not text):
            return None
        self.sent = text
        return f"event: progress\ndata: {json.dumps({'text': text})}\n\n"


async def wall_events(
    conn: aiosqlite.Connection, *, max_s: float = STREAM_MAX_S
) -> AsyncIterator[str]:
    """The SSE stream: `event: labels` with labels' ids, image versions and marks."""
    current = await wall_labels(conn)
    known = {label.device_id: label for label in current}
    progress = WallProgress()
    yield "retry: 1000\n\n"
    yield _event(current)
    if (line := progress.event(current)) is not None:
        yield line
    quiet_s = elapsed_s = 0.0
    while elapsed_s < max_s:
        await asyncio.sleep(POLL_S)
        elapsed_s += POLL_S
        current = await wall_labels(conn)
        changed = [label for label in current if known.get(label.device_id) != label]
        known = {label.device_id: label for label in current}
        if changed:
            quiet_s = 0.0
            yield _event(changed)
            if (line := progress.event(current)) is not None:
                yield line
        else:
            quiet_s += POLL_S
            if quiet_s >= HEARTBEAT_S:  # keeps proxies from closing an idle stream
                quiet_s = 0.0
                yield ": heartbeat\n\n"
