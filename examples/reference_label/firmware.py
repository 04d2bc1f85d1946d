"""Firmware offers (PROTOCOL.md §7.7): the four checks in order, then the download into a spare
slot (a file in the state directory), resumed like an image transfer with revision 0, checked by
length and SHA-256, and installed by rebooting into the new version. A download without progress
for 10 minutes is abandoned with CommandResult(txn, FAILED, "stalled") (§7.7).

The pinned vendor key defaults to the public RFC 8032 test key of §9.4 (a lab key: a real device
pins its vendor's key in write-protected flash). `cryptography` is used for Ed25519 only.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from frames import (
    BAD_SIGNATURE,
    DOWNGRADE_REFUSED,
    FAILED,
    IN_PROGRESS,
    MISSING_CHUNKS,
    NO_HASH,
    OK,
    REFUSED,
    WRONG_MODEL,
    Chunk,
    FirmwareOffer,
    missing_bitmap,
    xfer_request,
)
from state import LabelStore
from transfer import MAX_CHUNKS, ResumeTimer

log = logging.getLogger("reference_label.firmware")

STALLED_S = 600.0  # §7.7: no new chunk for 10 minutes: the download is abandoned
RFC8032_TEST_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def manifest(offer: FirmwareOffer) -> bytes:
    """§7.7: the 47 signed bytes, rebuilt from the offer's fields."""
    head = b"OSFW1" + struct.pack(">HBBHI", offer.model, *offer.version, offer.size)
    return head + offer.sha256


@dataclass
class FirmwareDownload:
    offer: FirmwareOffer
    chunk_count: int
    timer: ResumeTimer
    last_progress: float
    received: set[int] = field(default_factory=set)


class FirmwareUpdater:
    """Checks offers and downloads accepted ones; `finish(txn, status, detail)` gets the final
    answer (OK means: verified and installed, the caller reboots into it)."""

    def __init__(
        self,
        store: LabelStore,
        *,
        model: int,
        slot_bytes: int,
        vendor_key: bytes,
        send: Callable[[bytes], object],
        finish: Callable[[int, int, str], None],
        defects: frozenset[str],
    ) -> None:
        self.store = store
        self.model = model
        self.slot_bytes = slot_bytes
        self.vendor_key = Ed25519PublicKey.from_public_bytes(vendor_key)
        self.send = send
        self.finish = finish
        self.defects = defects
        self.slot = store.directory / "firmware-slot.bin"
        self.download: FirmwareDownload | None = None

    def reset(self) -> None:
        self.download = None

    def check(self, offer: FirmwareOffer) -> tuple[int, str]:
        """§7.7 step 2, in order; the first failed check is the answer."""
        if offer.model != self.model:
            return WRONG_MODEL, f"image for model 0x{offer.model:04x}"
        if offer.version <= self.store.firmware and "no-downgrade-check" not in self.defects:
            running = ".".join(map(str, self.store.firmware))
            return DOWNGRADE_REFUSED, f"running {running}"
        try:
            self.vendor_key.verify(offer.signature, manifest(offer))
        except InvalidSignature:
            return BAD_SIGNATURE, "signature does not verify with the pinned key"
        if offer.chunk_size == 0 or -(-offer.size // offer.chunk_size) > MAX_CHUNKS:
            return REFUSED, "too many chunks"
        if offer.size > self.slot_bytes:
            return REFUSED, f"no room: spare slot holds {self.slot_bytes} bytes"
        return IN_PROGRESS, ""

    def on_offer(self, offer: FirmwareOffer, now: float) -> tuple[int, str]:
        status, detail = self.check(offer)
        if status != IN_PROGRESS:
            return status, detail
        count = -(-offer.size // offer.chunk_size)
        self.download = FirmwareDownload(offer, count, ResumeTimer(due=now + 2.0), now)
        with self.slot.open("wb") as out:
            out.truncate(offer.size)
        log.info("firmware %s: downloading %d chunks", offer.version, count)
        if count == 0:
            self._complete()
        return IN_PROGRESS, f"0/{count} chunks"

    def on_chunk(self, c: Chunk, now: float) -> bool:
        d = self.download
        if d is None or c.xfer_id != d.offer.xfer_id:
            return False
        size, chunk_size = d.offer.size, d.offer.chunk_size
        if c.index >= d.chunk_count or len(c.data) != min(chunk_size, size - c.index * chunk_size):
            log.warning("firmware chunk %d (%d bytes) dropped", c.index, len(c.data))
            return True
        if c.index in d.received:
            return True
        with self.slot.open("r+b") as out:
            out.seek(c.index * chunk_size)
            out.write(c.data)
        d.received.add(c.index)
        d.timer.progress(now)
        d.last_progress = now
        if len(d.received) == d.chunk_count:
            self._complete()
        return True

    def _complete(self) -> None:
        """§7.7 step 6: length and SHA-256, then the final answer."""
        d = self.download
        assert d is not None
        self.download = None
        image = self.slot.read_bytes()
        if len(image) != d.offer.size or hashlib.sha256(image).digest() != d.offer.sha256:
            self.finish(d.offer.txn, FAILED, "sha256 mismatch")
            return
        self.store.firmware = d.offer.version
        self.store.save()
        self.finish(d.offer.txn, OK, "")

    def _request(self, now: float) -> None:
        d = self.download
        assert d is not None
        d.timer.requested(now)
        if "no-resume" in self.defects:
            return
        bitmap = missing_bitmap(d.chunk_count, d.received)
        self.send(xfer_request(0, d.offer.xfer_id, MISSING_CHUNKS, NO_HASH, bitmap))

    def _stalled(self, now: float) -> bool:
        """§7.7: 10 minutes without progress end the download with FAILED "stalled"."""
        d = self.download
        if d is None or now - d.last_progress < STALLED_S:
            return False
        log.warning("firmware %s: no progress for %.0f s, abandoned", d.offer.version, STALLED_S)
        self.download = None
        self.finish(d.offer.txn, FAILED, "stalled")
        return True

    def tick(self, now: float) -> None:
        if self._stalled(now):
            return
        if self.download is not None and now >= self.download.timer.due:
            self._request(now)

    def wake(self, now: float) -> None:
        d = self.download
        if d is None or self._stalled(now):
            return
        if not d.timer.progressed_since_wake:
            self._request(now)
        d.timer.progressed_since_wake = False
