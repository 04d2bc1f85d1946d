"""Receiving images: the desired/reported rules of PROTOCOL.md §4.7, chunk assembly (§5.5) and
resume (§5.6), with the decisions of issue 13 (D4 offers it cannot take, D5 timers, D6 one zlib
stream).

The state machine, as this label runs it. R, H and the page slots live in the LabelStore (flash);
T, the one transfer in progress, lives here (RAM). T is either *collecting* chunks, or *waiting*
for a new offer after BASE_UNKNOWN / INTEGRITY_FAILED (D4: its chunks are then discarded, and the
request is repeated under the resume timer until a new offer replaces T). TOO_LARGE drops the
offer at once (T = none) and is sent once, with have_hash = NO_HASH when the offer's page is not
one of this label's pages (there is no such slot), else the hash of that page slot (§4.7).

Buffer (§4.7): the label takes any payload_size up to compressBound(frame bytes), zlib's bound for
its frame however it was compressed, and any chunk_size from 16 up; payload_size 0, chunk_size 0
and more than 65,535 chunks are TOO_LARGE.

Resume timer (D5): "progress" is receiving the offer that started T or storing a chunk not held
before. An always-listening label sends its request 2 s after the last progress, then again after
4, 8, ... up to 60 s without progress; progress brings it back to 2 s. A sleepy label sends at most
one request per transfer per wake, at a wake with no progress since the previous one.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from frames import (
    APPLIED,
    BASE_UNKNOWN,
    INTEGRITY_FAILED,
    MISSING_CHUNKS,
    STALE_IGNORED,
    TOO_LARGE,
    UNCHANGED,
    Chunk,
    Desired,
    missing_bitmap,
    reported,
    xfer_request,
)
from state import LabelStore, content_hash

log = logging.getLogger("reference_label.transfer")

FULL, DELTA_XOR = 0, 1
ZLIB = 1
MAX_CHUNKS = 65_535  # §5.4: the chunk index is a u16
NO_HASH = bytes(16)
FIRST_WAIT_S = 2.0  # D5
MAX_WAIT_S = 60.0


@dataclass
class ResumeTimer:
    """When the next resume request of a transfer is due (D5)."""

    due: float
    wait: float = FIRST_WAIT_S
    progressed_since_wake: bool = True

    def progress(self, now: float) -> None:
        self.wait = FIRST_WAIT_S
        self.due = now + FIRST_WAIT_S
        self.progressed_since_wake = True

    def requested(self, now: float) -> None:
        self.due = now + self.wait
        self.wait = min(self.wait * 2, MAX_WAIT_S)


@dataclass
class ImageTransfer:
    offer: Desired
    chunk_count: int
    timer: ResumeTimer
    chunks: dict[int, bytes] = field(default_factory=dict)
    waiting: int | None = None  # BASE_UNKNOWN or INTEGRITY_FAILED: waiting for a new offer


def inflate_exactly(payload: bytes, raw_size: int) -> bytes | None:
    """§5.3/§5.5 step 2 and D6: one complete zlib stream inflating to exactly raw_size bytes,
    nothing after it; inflation stops one byte past raw_size (never allocates more)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, raw_size + 1)
    except zlib.error:
        return None
    if len(out) != raw_size or inflater.unconsumed_tail or inflater.unused_data:
        return None
    return out if inflater.eof else None


def compress_bound(raw: int) -> int:
    """§4.7: the largest zlib stream of `raw` bytes; the payload buffer a label must have."""
    return raw + (raw >> 12) + (raw >> 14) + (raw >> 25) + 13


def xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


class ImageReceiver:
    """§4.7 on every Desired, §5.5 on every Chunk, §5.6 on the clock."""

    def __init__(
        self,
        store: LabelStore,
        *,
        pages: int,
        frame_bytes: int,
        buffer_bytes: int,
        send: Callable[[bytes], object],
        shown_page: Callable[[], int],
        defects: frozenset[str],
    ) -> None:
        self.store = store
        self.pages = pages
        self.frame_bytes = frame_bytes
        self.buffer_bytes = buffer_bytes
        self.send = send
        self.shown_page = shown_page
        self.defects = defects
        self.transfer: ImageTransfer | None = None

    def reset(self) -> None:
        """A reboot: RAM is lost, so is the transfer in progress."""
        self.transfer = None

    def _report(self, result: int) -> None:
        store = self.store
        self.send(reported(store.revision, store.content_hash, self.shown_page(), result))

    def _too_large(self, d: Desired) -> str | None:
        """D4: the offers this label cannot take, and why."""
        if d.page >= self.pages:
            return f"page {d.page} >= {self.pages} pages"
        if d.raw_size != self.frame_bytes:
            return f"raw_size {d.raw_size} != frame bytes {self.frame_bytes}"
        if d.payload_size == 0:
            return "payload_size 0"
        if d.payload_size > self.buffer_bytes:
            return f"payload_size {d.payload_size} > buffer {self.buffer_bytes}"
        if d.chunk_size == 0:
            return "chunk_size 0"
        if -(-d.payload_size // d.chunk_size) > MAX_CHUNKS:
            return "more than 65,535 chunks"
        return None

    def on_desired(self, d: Desired, now: float) -> None:
        """§4.7 "The device's rules", line by line."""
        t = self.transfer
        if d.revision < self.store.revision and "applies-stale" not in self.defects:
            self._report(STALE_IGNORED)
        elif d.revision == self.store.revision:
            self._report(UNCHANGED)
        elif t is not None and d.revision < t.offer.revision:
            log.info("desired %d older than the transfer in progress: ignored", d.revision)
        elif t is not None and d.xfer_id == t.offer.xfer_id:
            log.info("desired %d xfer %#x again: ignored", d.revision, d.xfer_id)
        else:
            self.transfer = None  # abandon T: its chunks are ignored from now on
            why = self._too_large(d)
            if why is not None:
                log.warning("desired %d: TOO_LARGE (%s)", d.revision, why)
                # have_hash is hash(D.page); a page this label does not have holds nothing.
                have = self.store.slot_hash(d.page) if d.page < self.pages else NO_HASH
                self.send(xfer_request(d.revision, d.xfer_id, TOO_LARGE, have, b""))
                return
            count = -(-d.payload_size // d.chunk_size)
            t = ImageTransfer(d, count, ResumeTimer(due=now + FIRST_WAIT_S))
            self.transfer = t
            base_ok = d.base_hash == self.store.slot_hash(d.page)
            if d.encoding == DELTA_XOR and not base_ok and "ignores-base-hash" not in self.defects:
                self._fail(t, BASE_UNKNOWN, now)
            else:
                log.info(
                    "desired %d: collecting %d chunks of xfer %#x", d.revision, count, d.xfer_id
                )

    def on_chunk(self, c: Chunk, now: float) -> bool:
        """§5.5; False if the chunk is not of the image transfer in progress."""
        t = self.transfer
        if t is None or c.xfer_id != t.offer.xfer_id:
            return False
        if t.waiting is not None:
            return True  # D4: waiting for a new offer, this one's chunks are discarded
        offer = t.offer
        expected = min(offer.chunk_size, offer.payload_size - c.index * offer.chunk_size)
        if c.index >= t.chunk_count or len(c.data) != expected:
            log.warning("chunk %d of xfer %#x (%d bytes) dropped", c.index, c.xfer_id, len(c.data))
            return True
        if c.index in t.chunks:
            return True  # a duplicate is ignored and is not progress
        t.chunks[c.index] = c.data
        t.timer.progress(now)
        if len(t.chunks) == t.chunk_count:
            self._assemble(t, now)
        return True

    def _assemble(self, t: ImageTransfer, now: float) -> None:
        """§5.5: the four checks in order, then §4.7: write, persist, report."""
        offer = t.offer
        payload = b"".join(t.chunks[i] for i in range(t.chunk_count))
        if "no-payload-crc" not in self.defects and zlib.crc32(payload) != offer.payload_crc:
            self._fail(t, INTEGRITY_FAILED, now, "payload CRC")
            return
        compressed = offer.compression == ZLIB
        if offer.encoding == FULL and "full-ignores-zlib" in self.defects:
            compressed = False
        raw = inflate_exactly(payload, offer.raw_size) if compressed else payload
        if raw is None or len(raw) != offer.raw_size:
            self._fail(t, INTEGRITY_FAILED, now, "inflate / raw_size")
            return
        planes = raw
        if offer.encoding == DELTA_XOR and "delta-ignores-xor" not in self.defects:
            base = self.store.slot(offer.page)
            if "ignores-base-hash" in self.defects:
                base = base if base is not None else bytes(offer.raw_size)
            elif base is None or content_hash(base) != offer.base_hash:
                self._fail(t, BASE_UNKNOWN, now, "base changed")
                return
            planes = xor(raw, base)
        if content_hash(planes) != offer.content_hash:
            self._fail(t, INTEGRITY_FAILED, now, "content hash")
            return
        self.store.apply(offer.page, planes, offer.revision, offer.content_hash)
        self.transfer = None
        if offer.page == self.shown_page():
            log.info("panel refreshed with revision %d", offer.revision)
        self._report(APPLIED)

    def _fail(self, t: ImageTransfer, reason: int, now: float, why: str = "") -> None:
        """D4: keep T as waiting for a new offer, ask for it now and again under the timer."""
        log.warning("xfer %#x failed (%s): reason %d", t.offer.xfer_id, why or "base", reason)
        t.waiting = reason
        t.chunks.clear()
        self._request(t, now)

    def _request(self, t: ImageTransfer, now: float) -> None:
        offer = t.offer
        have = self.store.slot_hash(offer.page)
        t.timer.requested(now)
        if t.waiting is not None:
            self.send(xfer_request(offer.revision, offer.xfer_id, t.waiting, have, b""))
        elif "no-resume" not in self.defects:
            bitmap = missing_bitmap(t.chunk_count, t.chunks)
            self.send(xfer_request(offer.revision, offer.xfer_id, MISSING_CHUNKS, have, bitmap))

    def tick(self, now: float) -> None:
        """Always listening: request when the timer is due (D5)."""
        t = self.transfer
        if t is not None and now >= t.timer.due:
            self._request(t, now)

    def wake(self, now: float) -> None:
        """Sleepy: one request per transfer per wake, if nothing progressed since the last."""
        t = self.transfer
        if t is None:
            return
        if not t.timer.progressed_since_wake:
            self._request(t, now)
        t.timer.progressed_since_wake = False
