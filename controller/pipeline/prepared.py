"""Transfers built where the labels are rendered, waiting for their push.

The CPU work of a transfer (the XOR delta against what the label shows, zlib, the hashes, the
choice of a delta or a full frame) depends only on the new planes and the label's shown ones,
so the render stage has the render workers do it (label_renderer.batch, `with_payload`) and
leaves the result here; the push stage takes it and only frames and publishes it. The event
loop then spends no CPU per label on compression or hashing.

An entry is used only if it still fits: the label's desired image is the one it was built for
(same content hash; a newer render replaced it, latest wins) and the label shows what it showed
at render time (same reported hash; a report arrived meanwhile). Otherwise the push stage builds
the transfer as before, from the stored images: correctness first. Nothing here is durable: a
restarted controller builds its first offers the old way.

The book is bounded (a store's labels offline during a reprice keep their entry until they come
back, or until newer entries push it out, oldest first); it is shared by the render and push
stages of one database (`PreparedTransfers.of`) until the runtime hands one to both.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import aiosqlite

from controller.state.database import in_chunks
from firmware_protocol.transfer import ImagePayload

MAX_ENTRIES = 65_536  # ~1.5 KB each (full frame + delta): ~100 MB at most, ~6 MB per 4,000


@dataclass(frozen=True, slots=True)
class PreparedTransfer:
    """A label's transfer built at render time."""

    payload: ImagePayload
    stored: bytes  # the planes' zlib stream: what a full re-offer sends
    shown: bytes | None  # the reported hash the payload was built against (None: no base)


@dataclass(frozen=True, slots=True)
class ShownImage:
    """What a label shows, as far as the database knows: its reported hash, and the planes of
    that image (zlib) when they are stored (the delta's base)."""

    reported_hash: bytes | None
    planes: bytes | None

    @property
    def base_hash(self) -> bytes | None:
        """The hash a delta can be built against: only that of stored planes."""
        return self.reported_hash if self.planes is not None else None


@dataclass(frozen=True, slots=True)
class OfferState:
    """A label's desired image as the push stage needs it to use a prepared transfer."""

    revision: int
    content_hash: bytes
    shown: bytes | None  # ShownImage.base_hash now


class PreparedTransfers:
    """Prepared transfers by device id, newest last."""

    _by_database: ClassVar[weakref.WeakKeyDictionary[object, PreparedTransfers]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, PreparedTransfer] = OrderedDict()
        self.max_entries = max_entries
        self.used = 0  # offers sent from an entry
        self.rebuilt = 0  # offers built on the loop (no entry, or it no longer fitted)

    @classmethod
    def of(cls, conn: aiosqlite.Connection) -> PreparedTransfers:
        """The book of the stages that write through `conn` (the render stage fills it, the
        push stage empties it)."""
        book = cls._by_database.get(conn)
        if book is None:
            book = cls._by_database[conn] = cls()
        return book

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, device_id: str, transfer: PreparedTransfer) -> None:
        self._entries.pop(device_id, None)
        self._entries[device_id] = transfer
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def take(self, device_id: str, state: OfferState) -> PreparedTransfer | None:
        """The label's entry if it fits `state` (see the module docstring); the entry leaves
        the book either way (a stale one is of no further use)."""
        entry = self._entries.pop(device_id, None)
        if entry is None:
            return None
        if entry.payload.content_hash != state.content_hash or entry.shown != state.shown:
            return None
        return entry


async def shown_images(conn: aiosqlite.Connection, device_ids: list[str]) -> dict[str, ShownImage]:
    """What each of the labels shows (those with a state row), in a few queries."""
    found: dict[str, ShownImage] = {}
    for part, marks in in_chunks(device_ids):
        async with conn.execute(
            "SELECT device_id, reported_hash, shown_planes FROM label_state"  # noqa: S608
            f" WHERE device_id IN ({marks})",
            part,
        ) as cursor:
            for device_id, reported_hash, planes in await cursor.fetchall():
                found[device_id] = ShownImage(reported_hash, planes)
    return found


async def offer_states(conn: aiosqlite.Connection, device_ids: list[str]) -> dict[str, OfferState]:
    """The desired image of each label that has one stored, without its planes, in a few
    queries (`labels_repo.desired_images` reads and inflates both images)."""
    found: dict[str, OfferState] = {}
    for part, marks in in_chunks(device_ids):
        async with conn.execute(
            "SELECT device_id, desired_revision, desired_hash, reported_hash,"  # noqa: S608
            " shown_planes IS NOT NULL FROM label_state"
            f" WHERE device_id IN ({marks}) AND desired_planes IS NOT NULL",
            part,
        ) as cursor:
            for device_id, revision, desired_hash, reported, has_shown in await cursor.fetchall():
                found[device_id] = OfferState(
                    revision, desired_hash, reported if has_shown else None
                )
    return found
