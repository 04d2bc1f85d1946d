"""A simulated e-paper label: applies desired state the way firmware must (PROTOCOL.md §4-§7).

Rules this state machine enforces:
- A Desired whose revision is older than the displayed one is ignored (STALE_IGNORED); an equal
  one is a no-op (UNCHANGED). Only a newer revision starts a transfer.
- A newer Desired replaces a transfer in progress; the same revision with another xfer_id is the
  controller's new offer (a full frame after BASE_UNKNOWN or INTEGRITY_FAILED); the same xfer_id
  again (a redelivery, the retained copy) changes nothing.
- Chunks of an unknown transfer are ignored; duplicates are ignored; a frame that fails its CRC
  never reaches here (the gateway drops it), so the chunk is simply missing.
- An offer it cannot take (page out of range, another frame size, more than its buffer or than
  65,535 chunks) is answered TOO_LARGE once and dropped (§4.7).
- A delta whose base is not in its page slot (BASE_UNKNOWN), or a payload that fails its checks
  (INTEGRITY_FAILED, §5.5), keeps the transfer as "waiting for a new offer": its chunks are
  discarded and the request is repeated under the resume timer until a new offer replaces it.
- Resume (§5.6): a sleepy label asks at a wake where no progress happened since the previous
  wake, at most once per wake. An always-listening one asks when `resume_after_s` (2 s) pass
  without progress, then again after each further wait without progress, doubling the wait up
  to 60 s; progress (the offer, a new chunk) brings it back to 2 s.
- A reboot keeps the page slots and R/H (e-paper holds its image without power, flash holds the
  planes) but not a page switch: the label boots showing page 0, refreshing the panel if another
  page was on screen, and its BOOT report says shown_page 0 (§4.6, §7.3).
- A firmware switch is a reboot: OK, the Death of the session, then the new session (§7.7).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_sim.device import SimDevice
from firmware_protocol.errors import IntegrityError, TransferError
from firmware_protocol.firmware import check_image, is_upgrade, offer_manifest
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Chunk,
    CommandStatus,
    Desired,
    Encoding,
    FirmwareOffer,
    Message,
    PageSwitch,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import Palette
from firmware_protocol.planes import content_hash, unpack_planes
from firmware_protocol.transfer import (
    MAX_CHUNKS,
    BaseUnknown,
    ChunkAssembler,
    apply_image,
    image_assembler,
)

MAX_FIRMWARE = 512 * 1024
MAX_RESUME_WAIT_S = 60.0  # the always-listening resume back-off's cap (§5.6)


# Panel memory is kept compressed (~1 KB a label); level 1 is twice as fast as 6 and the
# simulator shares the machine with the controller in the benchmarks.
STORE_LEVEL = 1


@dataclass
class LabelStats:
    applied: int = 0
    stale_ignored: int = 0
    unchanged: int = 0
    resume_requests: int = 0
    full_requests: int = 0
    bytes_received: int = 0


@dataclass
class SimLabel(SimDevice):
    pages: int = 2
    revision: int = 0
    displayed_hash: bytes = NO_HASH
    shown_page: int = 0
    images: dict[int, bytes] = field(default_factory=dict)  # page -> zlib(planes)
    pending: Desired | None = None
    assembler: ChunkAssembler | None = None
    waiting: XferReason | None = None  # BASE_UNKNOWN / INTEGRITY_FAILED: for a new offer
    last_progress: float = 0.0
    quiet_since: float = 0.0  # the last progress or request (always-listening resume timer)
    resume_wait_s: float = 0.0  # the current wait; 0: not started (the behaviour's first)
    page_revert_at: float | None = None
    vendor_key: Ed25519PublicKey | None = None
    firmware_offer: FirmwareOffer | None = None
    firmware_assembler: ChunkAssembler | None = None
    firmware_progress: float = 0.0
    stats: LabelStats = field(default_factory=LabelStats)

    # ---- what it shows ------------------------------------------------------------------------

    def planes(self, page: int | None = None) -> bytes | None:
        stored = self.images.get(self.shown_page if page is None else page)
        return zlib.decompress(stored) if stored is not None else None

    def pixels(self, page: int | None = None) -> bytes:
        """One palette index per pixel of what the panel shows (white when never written)."""
        planes = self.planes(page)
        if planes is None:
            return bytes(self.model.width * self.model.height)
        return unpack_planes(planes, self.model)

    @property
    def refresh_s(self) -> float:
        b = self.behaviour
        return b.refresh_bw_s if self.model.palette is Palette.BW else b.refresh_colour_s

    def birth(self) -> Birth:
        base = super().birth()
        return Birth(
            session=base.session,
            model=base.model,
            firmware=base.firmware,
            max_packet=base.max_packet,
            battery_mv=base.battery_mv,
            checkin_s=base.checkin_s,
            pages=self.pages,
            displayed_revision=self.revision,
            displayed_hash=self.displayed_hash,
            shown_page=self.shown_page,
        )

    def report(self, result: ReportResult) -> Reported:
        return Reported(self.revision, self.displayed_hash, self.shown_page, result)

    def boot(self, now: float) -> list[Message]:
        # A transfer in RAM is lost, and so is a page switch: the label boots on page 0 (§7.3).
        # The page slots and R/H are in flash and stay.
        self.pending = None
        self.assembler = None
        self.waiting = None
        self.firmware_offer = None
        self.firmware_assembler = None
        self.page_revert_at = None
        if self.shown_page != 0:
            self.shown_page = 0
            self.charge_used_mas += self.behaviour.refresh_mas  # the panel redraws page 0
        return [*super().boot(now), self.report(ReportResult.BOOT)]

    # ---- messages -----------------------------------------------------------------------------

    def handle(self, msg: Message, now: float) -> list[Message]:
        match msg:
            case Desired():
                return self._on_desired(msg, now)
            case Chunk():
                return self._on_chunk(msg, now)
            case FirmwareOffer():
                return self._on_firmware_offer(msg, now)
            case PageSwitch():
                return self._on_page_switch(msg, now)
        return super().handle(msg, now)

    def _on_desired(self, desired: Desired, now: float) -> list[Message]:
        if desired.revision < self.revision:
            self.stats.stale_ignored += 1
            return [self.report(ReportResult.STALE_IGNORED)]
        if desired.revision == self.revision:
            self.stats.unchanged += 1
            return [self.report(ReportResult.UNCHANGED)]
        if self.pending is not None:
            if desired.revision < self.pending.revision:
                self.stats.stale_ignored += 1
                return []
            if desired.xfer_id == self.pending.xfer_id:
                return []  # the same offer again (a duplicate or the retained copy)
        self.pending = desired
        self.assembler = None
        self.waiting = None
        self._progress(now)
        if desired.page >= self.pages or desired.raw_size != self.model.frame_size:
            return self._give_up(XferReason.TOO_LARGE)
        if desired.chunk_size == 0 or desired.chunk_count > MAX_CHUNKS:
            return self._give_up(XferReason.TOO_LARGE)
        if desired.encoding is Encoding.DELTA_XOR and desired.base_hash != self._page_hash(
            desired.page
        ):
            return self._wait_for_offer(XferReason.BASE_UNKNOWN)
        try:
            self.assembler = image_assembler(desired, max_size=2 * self.model.frame_size + 1024)
        except TransferError:
            return self._give_up(XferReason.TOO_LARGE)
        return []

    def _give_up(self, reason: XferReason) -> list[Message]:
        """TOO_LARGE: tell the controller once and drop the offer; its chunks are then chunks
        of an unknown transfer, and nothing is asked again (§4.7)."""
        request = self._request(reason)
        self.pending = None
        self.assembler = None
        return [request]

    def _wait_for_offer(self, reason: XferReason) -> list[Message]:
        """BASE_UNKNOWN / INTEGRITY_FAILED: keep the transfer, collect none of its chunks, and
        ask again under the resume timer until a new offer replaces it (§4.7, §5.6)."""
        self.assembler = None
        self.waiting = reason
        self.stats.full_requests += 1
        return [self._request(reason)]

    def _progress(self, now: float) -> None:
        self.last_progress = now
        self.quiet_since = now
        self.resume_wait_s = self.behaviour.resume_after_s

    def _page_hash(self, page: int) -> bytes:
        planes = self.planes(page)
        return content_hash(planes) if planes is not None else NO_HASH

    def _request(self, reason: XferReason, missing: bytes = b"") -> XferRequest:
        assert self.pending is not None
        return XferRequest(
            self.pending.revision,
            self.pending.xfer_id,
            reason,
            self._page_hash(self.pending.page),
            missing,
        )

    def _on_chunk(self, chunk: Chunk, now: float) -> list[Message]:
        self.stats.bytes_received += len(chunk.data)
        if self.assembler is not None and chunk.xfer_id == self.assembler.xfer_id:
            try:
                if self.assembler.accept(chunk):
                    self._progress(now)
            except TransferError:
                return []  # a chunk of the wrong size is as good as missing
            return self._finish_image() if self.assembler.complete else []
        if self.firmware_assembler is not None and chunk.xfer_id == self.firmware_assembler.xfer_id:
            try:
                if self.firmware_assembler.accept(chunk):
                    self.firmware_progress = now
            except TransferError:
                return []
            return self._finish_firmware(now) if self.firmware_assembler.complete else []
        return []

    def _finish_image(self) -> list[Message]:
        assert self.pending is not None
        assert self.assembler is not None
        desired, payload = self.pending, self.assembler.payload()
        try:
            planes = apply_image(desired, payload, self.planes(desired.page))
        except BaseUnknown:
            return self._wait_for_offer(XferReason.BASE_UNKNOWN)
        except IntegrityError:
            return self._wait_for_offer(XferReason.INTEGRITY_FAILED)
        self.images[desired.page] = zlib.compress(planes, STORE_LEVEL)
        self.revision = desired.revision
        self.displayed_hash = desired.content_hash
        self.pending = None
        self.assembler = None
        self.charge_used_mas += self.behaviour.refresh_mas
        self.stats.applied += 1
        return [self.report(ReportResult.APPLIED)]

    def wake(self, now: float, since: float) -> list[Message]:
        """At a wake: ask again for what has not arrived (resume, §5.6). `since` is the
        previous wake of a sleepy label; an always-listening one runs its own timer."""
        out = self.tick(now)
        if self.page_revert_at is not None and now >= self.page_revert_at:
            self.page_revert_at = None
            self.shown_page = 0
            out.append(self.report(ReportResult.APPLIED))
        out += self._resume_firmware(now, since)
        if self.pending is None:
            return out
        if self.always_listening:
            if now < self.resume_due():
                return out
            self.quiet_since = now
            self.resume_wait_s = min(MAX_RESUME_WAIT_S, 2 * self._first_wait(self.resume_wait_s))
        elif self.last_progress > since:
            return out
        self.last_progress = now
        if self.waiting is not None:
            self.stats.full_requests += 1
            out.append(self._request(self.waiting))
        elif self.assembler is not None:
            self.stats.resume_requests += 1
            out.append(self._request(XferReason.MISSING_CHUNKS, self.assembler.missing_bitmap()))
        return out

    @property
    def always_listening(self) -> bool:
        return self.behaviour.checkin_s <= 0

    def _first_wait(self, wait: float) -> float:
        return wait if wait > 0 else self.behaviour.resume_after_s

    def resume_due(self) -> float:
        """When an always-listening label next asks for its transfer if nothing arrives."""
        if self.pending is None:
            return float("inf")
        return self.quiet_since + self._first_wait(self.resume_wait_s)

    def _resume_firmware(self, now: float, since: float) -> list[Message]:
        assembler = self.firmware_assembler
        if assembler is None or assembler.complete or self.firmware_progress > since:
            return []
        self.firmware_progress = now
        return [
            XferRequest(
                0, assembler.xfer_id, XferReason.MISSING_CHUNKS, NO_HASH, assembler.missing_bitmap()
            )
        ]

    # ---- pages --------------------------------------------------------------------------------

    def _on_page_switch(self, msg: PageSwitch, now: float) -> list[Message]:
        if msg.page >= self.pages or msg.page not in self.images:
            return self._result(msg.txn, CommandStatus.REFUSED, f"no image on page {msg.page}")
        self.shown_page = msg.page
        self.page_revert_at = now + msg.duration_s if msg.duration_s and msg.page != 0 else None
        return [*self._result(msg.txn, CommandStatus.OK), self.report(ReportResult.APPLIED)]

    # ---- firmware -----------------------------------------------------------------------------

    def _on_firmware_offer(self, offer: FirmwareOffer, now: float) -> list[Message]:
        if offer.model != self.model.id:
            return self._result(offer.txn, CommandStatus.WRONG_MODEL, self.model.name)
        if not is_upgrade(self.firmware, offer.version):
            return self._result(
                offer.txn, CommandStatus.DOWNGRADE_REFUSED, f"running {self.firmware}"
            )
        if self.vendor_key is None:
            return self._result(offer.txn, CommandStatus.BAD_SIGNATURE, "no vendor key")
        try:
            self.vendor_key.verify(offer.signature, offer_manifest(offer))
        except InvalidSignature:
            return self._result(offer.txn, CommandStatus.BAD_SIGNATURE)
        try:
            self.firmware_assembler = ChunkAssembler(
                offer.xfer_id, offer.size, offer.chunk_size, max_size=MAX_FIRMWARE
            )
        except TransferError as exc:
            return self._result(offer.txn, CommandStatus.REFUSED, str(exc))
        self.firmware_offer = offer
        self.firmware_progress = now
        return self._result(offer.txn, CommandStatus.IN_PROGRESS)

    def _finish_firmware(self, now: float) -> list[Message]:
        assert self.firmware_offer is not None
        assert self.firmware_assembler is not None
        offer, image = self.firmware_offer, self.firmware_assembler.payload()
        self.firmware_offer = None
        self.firmware_assembler = None
        try:
            check_image(offer, image)
        except IntegrityError as exc:
            return self._result(offer.txn, CommandStatus.FAILED, str(exc))
        self.firmware = offer.version
        # §7.7 step 6: the answer, the Death of this session, then the reboot into the image.
        return [*self._result(offer.txn, CommandStatus.OK), self.death(), *self.boot(now)]
