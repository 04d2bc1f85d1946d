"""The controller's transfer book against the simulator's sans-IO label (PROTOCOL.md §5)."""

from __future__ import annotations

from controller.transfers import ImageTransfers, Outcome
from firmware_protocol.messages import (
    Chunk,
    Message,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.planes import content_hash
from tests.support.label_kit import CHUNK, A, B, C, make_label

DEVICE = "lbl-1"


def deliver(label, messages: list[Message], drop: set[int] = frozenset()) -> list[Message]:
    out: list[Message] = []
    for msg in messages:
        if isinstance(msg, Chunk) and msg.index in drop:
            continue
        out += label.handle(msg, 0.0)
    return out


def reports(out: list[Message]) -> list[Reported]:
    return [m for m in out if isinstance(m, Reported)]


def test_full_then_delta_settle_and_the_delta_is_smaller():
    """A full frame then a price-sized change: both settle, and the delta sends fewer bytes."""
    book, label = ImageTransfers(first_xfer_id=1), make_label()
    first = book.offer(DEVICE, A, revision=1, chunk_size=CHUNK)
    out = deliver(label, first)
    assert book.on_reported(DEVICE, reports(out)[-1]) is Outcome.SETTLED
    second = book.offer(DEVICE, B, revision=2, chunk_size=CHUNK, base=A)
    out = deliver(label, second)
    assert book.on_reported(DEVICE, reports(out)[-1]) is Outcome.SETTLED
    assert label.planes() == B
    size = lambda msgs: sum(len(m.data) for m in msgs if isinstance(m, Chunk))  # noqa: E731
    assert size(second) < size(first) / 3
    assert book.in_flight(DEVICE) is None


def test_missing_chunks_are_answered_with_exactly_those():
    """A lost chunk is requested by bitmap at the next wake; the answer holds just that chunk."""
    book, label = ImageTransfers(first_xfer_id=1), make_label()
    offered = book.offer(DEVICE, C, revision=1, chunk_size=CHUNK)
    deliver(label, offered, drop={1})
    out = label.wake(10.0, since=5.0)  # a label asks for what is missing when it wakes
    request = next(m for m in out if isinstance(m, XferRequest))
    answer = book.on_request(DEVICE, request)
    assert [m.index for m in answer.messages if isinstance(m, Chunk)] == [1]
    out = deliver(label, list(answer.messages))
    assert book.on_reported(DEVICE, reports(out)[-1]) is Outcome.SETTLED
    assert label.planes() == C


def test_unknown_base_gets_a_full_frame_with_the_same_revision_and_a_new_xfer_id():
    """A delta against an image the label does not show is re-offered in full."""
    book, label = ImageTransfers(first_xfer_id=1), make_label()
    offered = book.offer(DEVICE, B, revision=1, chunk_size=CHUNK, base=A)  # label shows nothing
    out = deliver(label, offered)
    request = next(m for m in out if isinstance(m, XferRequest))
    assert request.reason is XferReason.BASE_UNKNOWN
    answer = book.on_request(DEVICE, request)
    again = answer.messages[0]
    assert again.revision == 1
    assert again.xfer_id != offered[0].xfer_id
    out = deliver(label, list(answer.messages))
    assert reports(out)[-1].content_hash == content_hash(B)
    assert book.on_reported(DEVICE, reports(out)[-1]) is Outcome.SETTLED


def test_full_reoffers_are_limited():
    """A label that keeps failing integrity gets max_full_offers new offers, then FAILED."""
    book = ImageTransfers(max_full_offers=2, first_xfer_id=1)
    book.offer(DEVICE, A, revision=7, chunk_size=CHUNK)
    failing = XferRequest(7, 0, XferReason.INTEGRITY_FAILED, b"\x00" * 16, b"")
    outcomes = [book.on_request(DEVICE, failing).outcome for _ in range(3)]
    assert outcomes == [None, None, Outcome.FAILED]
    assert book.in_flight(DEVICE) is None


def test_latest_offer_wins_and_stale_messages_are_ignored():
    """A request or report about a superseded revision changes nothing."""
    book, label = ImageTransfers(first_xfer_id=1), make_label()
    book.offer(DEVICE, A, revision=1, chunk_size=CHUNK)
    newer = book.offer(DEVICE, B, revision=2, chunk_size=CHUNK)
    stale = XferRequest(1, 1, XferReason.MISSING_CHUNKS, b"\x00" * 16, b"\x01")
    assert book.on_request(DEVICE, stale).outcome is Outcome.IGNORED
    old_report = Reported(1, content_hash(A), 0, ReportResult.APPLIED)
    assert book.on_reported(DEVICE, old_report) is Outcome.IGNORED
    out = deliver(label, newer)
    assert book.on_reported(DEVICE, reports(out)[-1]) is Outcome.SETTLED


def test_xfer_ids_wrap_within_u32():
    """Transfer ids stay within the wire's u32 and never become 0."""
    book = ImageTransfers(first_xfer_id=2**32 - 2)
    ids = [book.offer(DEVICE, A, revision=r, chunk_size=CHUNK)[0].xfer_id for r in (1, 2, 3)]
    assert ids == [2**32 - 1, 1, 2]
