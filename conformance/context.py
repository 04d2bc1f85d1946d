"""What every scenario shares: the device as its Birth describes it, what it shows, and the
controller's steps (offer an image and see it applied, send a command and get its result).

A scenario is a coroutine `scenario(ctx) -> str` that returns a detail line when the device
passed, and raises `Failed` (or `Skipped`) with the reason otherwise. Expectations wait at most
`ctx.expect_s`: 10 s for an always-listening device, 2 x checkin_s + 30 s for a sleepy one
(PROTOCOL.md §6 "Latency"), times --timeout-scale.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from conformance.images import make_offer, pattern_planes
from conformance.session import DeviceSession, UpMessage
from firmware_protocol.errors import TransferError
from firmware_protocol.messages import (
    Birth,
    CommandResult,
    CommandStatus,
    Compression,
    Desired,
    Encoding,
    Message,
    Opcode,
    PageSwitch,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import DeviceModel, model
from firmware_protocol.transfer import PreparedImage, chunk_size_for, indices_from_bitmap

ALWAYS_LISTENING_EXPECT_S = 10.0
SLEEPY_MARGIN_S = 30.0


class Outcome(StrEnum):
    PASS = "PASS"  # noqa: S105 - an outcome, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"


class Failed(Exception):
    """The device did not do what the clause says; the message says what it did instead."""


class Skipped(Exception):
    """The scenario does not apply to this device (for example one page only)."""


def describe(msg: Message | None) -> str:
    """A message for a detail line: enums by name, hashes as their first 4 bytes in hex."""
    if msg is None:
        return "nothing"
    parts = []
    for f in dataclasses.fields(msg):
        name, value = f.name, getattr(msg, f.name)
        if isinstance(value, bytes):
            text = value[:4].hex() + ("…" if len(value) > 4 else "")
        elif isinstance(value, Enum):
            text = value.name
        else:
            text = repr(value)
        parts.append(f"{name}={text}")
    return f"{type(msg).__name__}({', '.join(parts)})"


def expect_seconds(checkin_s: int, scale: float = 1.0) -> float:
    """How long one expectation may take (§6: 2 x checkin_s + 30 s for a sleepy device)."""
    base = ALWAYS_LISTENING_EXPECT_S if checkin_s == 0 else 2 * checkin_s + SLEEPY_MARGIN_S
    return base * scale


@dataclass
class Shown:
    """What the check believes the device holds: it sent every image it knows of."""

    revision: int
    content_hash: bytes
    shown_page: int = 0
    page_planes: dict[int, bytes] = field(default_factory=dict)
    desired: Desired | None = None  # the last applied offer: the retained Desired to restore
    certain: bool = False  # False after a failed scenario: re-establish a known image first


@dataclass
class Context:
    session: DeviceSession
    birth: Birth
    expect_s: float
    shown: Shown
    birth_retained: bool = True  # the first Birth arrived as a retained document at subscribe
    seed: int = 0

    def __post_init__(self) -> None:
        # Unique per device for at least a day (§7.1, §5.4): a device remembers its last 8
        # txns, so a second run must not reuse the first one's.
        self._txns = itertools.count(secrets.randbelow(1 << 30) + 1)
        self._xfers = itertools.count(secrets.randbelow(1 << 30) + 1)
        self._issued_revision = 0

    # ---- the device ---------------------------------------------------------------------------

    @property
    def model(self) -> DeviceModel:
        return model(self.birth.model)

    @property
    def chunk_size(self) -> int:
        """Chunk data bytes so that a Chunk PUBLISH fits the Birth's max_packet (§5.4)."""
        try:
            return chunk_size_for(self.birth.max_packet, self.session.address.topic(Opcode.CHUNK))
        except TransferError as exc:
            raise Failed(f"max_packet {self.birth.max_packet}: {exc}") from exc

    def next_txn(self) -> int:
        return next(self._txns)

    def next_xfer(self) -> int:
        return next(self._xfers)

    def next_revision(self) -> int:
        """Above every revision seen: in the retained Desired and Reported, in every Birth and
        Reported since, and every one this check issued (§4.7)."""
        seen = [self.birth.displayed_revision, self._issued_revision]
        seen += [d.revision for d in self.session.desired_seen]
        seen += [r.revision for r in self.session.since(0, Reported)]
        seen += [b.displayed_revision for b in self.session.since(0, Birth)]
        self._issued_revision = max(seen) + 1
        return self._issued_revision

    def next_planes(self) -> bytes:
        self.seed += 1
        return pattern_planes(self.model, self.seed + self._issued_revision)

    # ---- waiting ------------------------------------------------------------------------------

    async def expect(
        self,
        predicate: Callable[[Message], bool],
        what: str,
        *,
        after: int,
        timeout_s: float | None = None,
    ) -> UpMessage:
        """The first message from `after` on that matches; Failed if none comes in time."""
        wait = self.expect_s if timeout_s is None else timeout_s
        up = await self.session.wait_for(
            lambda u: u.message is not None and predicate(u.message), wait, after=after
        )
        if up is None:
            raise Failed(f"no {what} within {wait:.0f} s")
        return up

    async def command(self, msg: Message, what: str) -> tuple[CommandResult, UpMessage]:
        """Send a command and wait for its CommandResult (§7.1); IN_PROGRESS is not final."""
        txn = getattr(msg, "txn")  # noqa: B009 - every command has one
        mark = self.session.mark()
        await self.session.send(msg)
        up = await self.expect(
            lambda m: (
                isinstance(m, CommandResult)
                and m.txn == txn
                and m.status is not CommandStatus.IN_PROGRESS
            ),
            f"CommandResult for {what} (txn {txn})",
            after=mark,
        )
        assert isinstance(up.message, CommandResult)
        return up.message, up

    # ---- images -------------------------------------------------------------------------------

    def offer(
        self,
        planes: bytes,
        *,
        revision: int,
        page: int = 0,
        encoding: Encoding = Encoding.FULL,
        compression: Compression = Compression.ZLIB,
        base: bytes | None = None,
        chunk_size: int | None = None,
    ) -> PreparedImage:
        return make_offer(
            planes,
            revision=revision,
            xfer_id=self.next_xfer(),
            chunk_size=chunk_size or self.chunk_size,
            page=page,
            encoding=encoding,
            compression=compression,
            base=base,
        )

    async def publish_offer(
        self, prepared: PreparedImage, chunks: Iterable[int] | None = None
    ) -> None:
        """The Desired (retained), then the chunks in index order (§5.4 "Sending")."""
        await self.session.send(prepared.desired)
        indices = range(prepared.desired.chunk_count) if chunks is None else chunks
        await self.push_chunks(prepared, indices)

    async def push_chunks(self, prepared: PreparedImage, indices: Iterable[int]) -> None:
        for index in indices:
            await self.session.send(prepared.chunk(index))

    async def until_applied(self, prepared: PreparedImage, planes: bytes, *, after: int) -> str:
        """Wait for Reported(revision, APPLIED), answering MISSING_CHUNKS for this transfer as
        the controller does (§5.6); any other request for it fails. Records what is shown."""
        desired = prepared.desired
        position, answered = after, 0
        while True:
            up = await self.expect(
                lambda m: (
                    (
                        isinstance(m, Reported)
                        and m.revision == desired.revision
                        and m.result in {ReportResult.APPLIED, ReportResult.REFRESH_FAILED}
                    )
                    or (isinstance(m, XferRequest) and m.xfer_id == desired.xfer_id)
                ),
                f"Reported(revision {desired.revision}, APPLIED)",
                after=position,
            )
            position = up.index + 1
            msg = up.message
            if isinstance(msg, XferRequest):
                if msg.reason is not XferReason.MISSING_CHUNKS:
                    raise Failed(
                        f"the device asked {msg.reason.name} for revision {desired.revision} "
                        f"({desired.encoding.name}+{desired.compression.name}) instead of "
                        "applying it"
                    )
                await self.push_chunks(
                    prepared, indices_from_bitmap(msg.missing, desired.chunk_count)
                )
                answered += 1
                continue
            assert isinstance(msg, Reported)
            if msg.result is ReportResult.REFRESH_FAILED:
                raise Failed(f"revision {desired.revision}: REFRESH_FAILED")
            if msg.content_hash != desired.content_hash:
                raise Failed(
                    f"revision {desired.revision} reported with content hash "
                    f"{msg.content_hash.hex()}, expected {desired.content_hash.hex()}"
                )
            self.record_applied(prepared, planes, msg)
            resent = f", {answered} resume request(s) answered" if answered else ""
            return f"{desired.chunk_count} chunk(s){resent}"

    def record_applied(self, prepared: PreparedImage, planes: bytes, report: Reported) -> None:
        desired = prepared.desired
        self.shown.revision = desired.revision
        self.shown.content_hash = desired.content_hash
        self.shown.page_planes[desired.page] = planes
        self.shown.shown_page = report.shown_page
        self.shown.desired = desired

    async def apply(
        self,
        planes: bytes,
        *,
        page: int = 0,
        encoding: Encoding = Encoding.FULL,
        compression: Compression = Compression.NONE,
        base: bytes | None = None,
    ) -> tuple[PreparedImage, str]:
        """Offer a new revision with all its chunks and wait until it is applied. FULL + NONE
        unless asked: the simplest transfer, so that a device that mishandles zlib or deltas
        fails only the scenario about them."""
        prepared = self.offer(
            planes,
            revision=self.next_revision(),
            page=page,
            encoding=encoding,
            compression=compression,
            base=base,
        )
        mark = self.session.mark()
        await self.publish_offer(prepared)
        return prepared, await self.until_applied(prepared, planes, after=mark)

    async def ensure_known_image(self) -> None:
        """Page 0 holds an image this check sent, on screen (each scenario starts from it)."""
        shown = self.shown
        if shown.certain and 0 in shown.page_planes and shown.shown_page == 0:
            return
        try:
            await self.apply(self.next_planes())
            if shown.shown_page != 0:
                await self._show_page_zero()
        except Failed as exc:
            raise Failed(f"could not establish a known image on page 0: {exc}") from exc
        shown.certain = True

    async def _show_page_zero(self) -> None:
        """Back to page 0, its Reported awaited so that it is not taken for the next scenario's."""
        mark = self.session.mark()
        result, _ = await self.command(PageSwitch(self.next_txn(), 0, 0), "PageSwitch(0)")
        if result.status is not CommandStatus.OK:
            raise Failed(f"PageSwitch(0) answered {result.status.name}")
        await self.expect(
            lambda m: isinstance(m, Reported) and m.shown_page == 0,
            "Reported shown_page 0 after PageSwitch(0)",
            after=mark,
        )
        self.shown.shown_page = 0
