"""SimLabel desired/reported state, transfers, reboot and pages, driven without a network."""

from __future__ import annotations

import dataclasses

import pytest

from device_sim.behaviour import Behaviour
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    CommandResult,
    CommandStatus,
    Death,
    Encoding,
    Message,
    PageSwitch,
    Reboot,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import ModelId
from firmware_protocol.planes import content_hash
from firmware_protocol.transfer import PreparedImage, bitmap_from_indices, prepare_image
from tests.support.label_kit import (
    CHUNK,
    A,
    B,
    C,
    applied,
    make_label,
    offer,
    planes_of,
    transfer,
)

# ---- desired state --------------------------------------------------------------------------


def test_newer_revisions_apply_full_then_delta() -> None:
    """A full frame then a delta against it are applied and reported with their content hash."""
    label = make_label()
    full = offer(A, 1, 10)
    assert full.desired.encoding is Encoding.FULL
    assert full.desired.chunk_count > 3
    assert transfer(label, full, 1.0) == [applied(1, A)]
    assert label.planes() == A

    delta = offer(B, 2, 11, base=A)
    assert delta.desired.encoding is Encoding.DELTA_XOR
    assert transfer(label, delta, 2.0) == [applied(2, B)]
    assert (label.revision, label.displayed_hash, label.planes()) == (2, content_hash(B), B)
    assert label.stats.applied == 2


def test_equal_revision_is_unchanged() -> None:
    """A Desired with the displayed revision is a no-op answered UNCHANGED, starting nothing."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    again = offer(C, 1, 11)
    assert label.handle(again.desired, 1.0) == [
        Reported(1, content_hash(A), 0, ReportResult.UNCHANGED)
    ]
    assert label.pending is None
    assert label.planes() == A


def test_older_revision_is_stale_ignored() -> None:
    """A Desired older than the displayed revision is answered STALE_IGNORED and ignored."""
    label = make_label()
    transfer(label, offer(A, 5, 10))
    old = offer(C, 4, 11)
    assert label.handle(old.desired, 1.0) == [
        Reported(5, content_hash(A), 0, ReportResult.STALE_IGNORED)
    ]
    assert transfer(label, old, 2.0)[1:] == []  # its chunks go nowhere either
    assert (label.revision, label.planes()) == (5, A)
    assert label.stats.stale_ignored == 2


def test_duplicate_desired_does_not_restart_transfer() -> None:
    """The same offer (same xfer_id) arriving again keeps the chunks already received."""
    label = make_label()
    prepared = offer(A, 1, 10)
    chunks = list(prepared.chunks())
    assert label.handle(prepared.desired, 0.0) == []
    for chunk in chunks[:3]:
        assert label.handle(chunk, 0.0) == []
    assert label.handle(prepared.desired, 0.5) == []
    assert label.assembler is not None
    assert label.assembler.received == 3
    out: list[Message] = []
    for chunk in chunks[3:]:
        out += label.handle(chunk, 1.0)
    assert out == [applied(1, A)]


def test_newer_desired_replaces_transfer_in_progress() -> None:
    """A newer revision mid-transfer replaces it: the old chunks are ignored, the new applies."""
    label = make_label()
    first, second = offer(A, 1, 10), offer(C, 2, 20)
    first_chunks = list(first.chunks())
    label.handle(first.desired, 0.0)
    for chunk in first_chunks[:2]:
        label.handle(chunk, 0.0)
    assert label.handle(second.desired, 1.0) == []
    assert label.pending == second.desired
    for chunk in first_chunks:
        assert label.handle(chunk, 1.5) == []
    out: list[Message] = []
    for chunk in second.chunks():
        out += label.handle(chunk, 2.0)
    assert out == [applied(2, C)]
    assert label.planes() == C


def test_chunks_of_unknown_transfer_are_ignored() -> None:
    """Chunks whose xfer_id is not the transfer in progress change nothing."""
    label = make_label()
    prepared = offer(A, 1, 10)
    stranger = offer(A, 1, 99)
    for chunk in stranger.chunks():  # nothing pending yet
        assert label.handle(chunk, 0.0) == []
    label.handle(prepared.desired, 1.0)
    for chunk in stranger.chunks():
        assert label.handle(chunk, 1.0) == []
    assert label.assembler is not None
    assert label.assembler.received == 0
    assert label.revision == 0


def test_delta_with_wrong_base_asks_for_full_frame() -> None:
    """A delta against an image the label lacks → BASE_UNKNOWN; the full re-offer completes."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    elsewhere = planes_of(1, box=(10, 60, 50, 100))  # A with another box: not what it shows
    delta = offer(B, 2, 11, base=elsewhere)
    assert delta.desired.encoding is Encoding.DELTA_XOR
    assert label.handle(delta.desired, 1.0) == [
        XferRequest(2, 11, XferReason.BASE_UNKNOWN, content_hash(A), b"")
    ]
    for chunk in delta.chunks():
        assert label.handle(chunk, 1.0) == []
    full = offer(B, 2, 12)
    assert full.desired.encoding is Encoding.FULL
    assert transfer(label, full, 2.0) == [applied(2, B)]
    assert label.planes() == B


def test_wake_asks_for_exactly_the_missing_chunks() -> None:
    """With no progress since the previous wake, wake() requests the missing chunk bitmap."""
    label = make_label(Behaviour.instant(checkin_s=40.0))
    prepared = offer(A, 1, 10)
    count = prepared.desired.chunk_count
    have = {0, 2, count - 1}
    label.handle(prepared.desired, 0.0)
    for i in sorted(have):
        label.handle(prepared.chunk(i), 1.0)
    missing = [i for i in range(count) if i not in have]
    assert label.wake(10.0, since=5.0) == [
        XferRequest(1, 10, XferReason.MISSING_CHUNKS, NO_HASH, bitmap_from_indices(missing, count))
    ]
    assert label.stats.resume_requests == 1
    out: list[Message] = []
    for i in missing:
        out += label.handle(prepared.chunk(i), 11.0)
    assert out == [applied(1, A)]


def test_wake_after_progress_requests_nothing() -> None:
    """Sleepy: a chunk that arrived after the previous wake is progress: no resume request."""
    label = make_label(Behaviour.instant(checkin_s=40.0))
    prepared = offer(A, 1, 10)
    label.handle(prepared.desired, 0.0)
    label.handle(prepared.chunk(0), 6.0)
    assert label.wake(10.0, since=5.0) == []
    assert label.stats.resume_requests == 0
    label.handle(prepared.chunk(0), 12.0)  # a duplicate is not progress
    assert [m.reason for m in label.wake(20.0, since=10.0) if isinstance(m, XferRequest)] == [
        XferReason.MISSING_CHUNKS
    ]


def test_payload_with_bad_crc_fails_integrity() -> None:
    """A payload whose CRC does not match the offer → INTEGRITY_FAILED, nothing displayed."""
    label = make_label()
    prepared = offer(A, 1, 10)
    bad = PreparedImage(
        dataclasses.replace(prepared.desired, payload_crc=prepared.desired.payload_crc ^ 1),
        prepared.payload,
    )
    assert transfer(label, bad) == [XferRequest(1, 10, XferReason.INTEGRITY_FAILED, NO_HASH, b"")]
    assert (label.revision, label.images) == (0, {})
    assert transfer(label, offer(A, 1, 11), 1.0) == [applied(1, A)]


def test_payload_with_wrong_content_hash_fails_integrity() -> None:
    """A payload that inflates to other planes than the offer's hash → INTEGRITY_FAILED."""
    label = make_label()
    prepared = offer(A, 1, 10)
    lying = PreparedImage(
        dataclasses.replace(prepared.desired, content_hash=content_hash(C)), prepared.payload
    )
    out = transfer(label, lying)
    assert [(type(m), getattr(m, "reason", None)) for m in out] == [
        (XferRequest, XferReason.INTEGRITY_FAILED)
    ]
    assert label.revision == 0


def test_frame_of_wrong_size_is_refused_too_large() -> None:
    """An offer whose raw size is not the panel's frame size → TOO_LARGE, no transfer."""
    label = make_label()
    small = prepare_image(A[:100], revision=1, xfer_id=10, chunk_size=CHUNK)
    assert label.handle(small.desired, 0.0) == [
        XferRequest(1, 10, XferReason.TOO_LARGE, NO_HASH, b"")
    ]
    assert label.assembler is None


# ---- reboot and birth -----------------------------------------------------------------------


def test_reboot_keeps_image_and_forgets_transfer() -> None:
    """Reboot: OK, the Death of the session, then Birth with a new session and Reported(BOOT);
    image kept, transfer lost (§7.6)."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    session = label.session
    pending = offer(C, 2, 20)
    chunks = list(pending.chunks())
    label.handle(pending.desired, 1.0)
    label.handle(chunks[0], 1.0)

    out = label.handle(Reboot(txn=7), 2.0)
    assert out[:2] == [CommandResult(7, CommandStatus.OK), Death(session)]
    assert isinstance(out[2], Birth)
    assert out[2].session == session + 1
    assert (out[2].displayed_revision, out[2].displayed_hash) == (1, content_hash(A))
    assert out[3:] == [Reported(1, content_hash(A), 0, ReportResult.BOOT)]
    assert label.pending is None
    for chunk in chunks[1:]:
        assert label.handle(chunk, 3.0) == []
    assert (label.revision, label.planes()) == (1, A)


def test_birth_carries_what_is_displayed() -> None:
    """Birth reports pages, displayed revision/hash and shown page from the label's state."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    transfer(label, offer(C, 2, 11, page=1))
    label.handle(PageSwitch(txn=1, page=1, duration_s=0), 1.0)
    birth = label.birth()
    assert birth.model is ModelId.EPD290_BWR
    assert birth.pages == 2
    assert birth.displayed_revision == 2
    assert birth.displayed_hash == content_hash(C)
    assert birth.shown_page == 1


@pytest.mark.parametrize("duration_s", [0, 30])
def test_a_page_switch_does_not_survive_a_reboot(duration_s: int) -> None:
    """After a timed or untimed switch to page 1, a reboot shows page 0 again: Birth and the
    BOOT report say shown_page 0, the panel is redrawn once, and no return to page 0 follows
    (§4.6, §7.3)."""
    label = make_label()
    transfer(label, offer(C, 1, 10, page=1))
    transfer(label, offer(A, 2, 11))
    label.handle(PageSwitch(txn=1, page=1, duration_s=duration_s), 1.0)
    charge = label.charge_used_mas
    out = label.boot(2.0)
    assert isinstance(out[0], Birth)
    assert out[0].shown_page == 0
    assert out[1:] == [Reported(2, content_hash(A), 0, ReportResult.BOOT)]
    assert (label.shown_page, label.planes()) == (0, A)
    assert label.charge_used_mas == charge + label.behaviour.refresh_mas
    assert label.wake(100.0, since=2.0) == []
    assert label.boot(101.0)[1:] == [Reported(2, content_hash(A), 0, ReportResult.BOOT)]
    assert label.charge_used_mas == charge + label.behaviour.refresh_mas  # page 0: no redraw


# ---- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [1, 2, 255])
def test_page_switch_without_image_is_refused(page: int) -> None:
    """Switching to a page with no image (or beyond the label's pages) is REFUSED."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    out = label.handle(PageSwitch(txn=3, page=page, duration_s=0), 1.0)
    assert [(m.txn, m.status) for m in out if isinstance(m, CommandResult)] == [
        (3, CommandStatus.REFUSED)
    ]
    assert len(out) == 1
    assert label.shown_page == 0


def test_page_switch_shows_page_then_reverts_at_a_wake() -> None:
    """A timed switch shows the page (OK, APPLIED); the first wake after it returns to page 0."""
    label = make_label()
    transfer(label, offer(C, 1, 10, page=1))
    transfer(label, offer(A, 2, 11))  # the last applied Desired is for page 0
    out = label.handle(PageSwitch(txn=4, page=1, duration_s=30), 100.0)
    assert out == [
        CommandResult(4, CommandStatus.OK),
        Reported(2, content_hash(A), 1, ReportResult.APPLIED),
    ]
    assert (label.shown_page, label.planes()) == (1, C)
    assert (label.revision, label.displayed_hash) == (2, content_hash(A))  # §7.3: unchanged
    assert label.wake(129.0, since=100.0) == []
    assert label.shown_page == 1
    assert label.wake(130.0, since=129.0) == [Reported(2, content_hash(A), 0, ReportResult.APPLIED)]
    assert (label.shown_page, label.planes()) == (0, A)


def test_untimed_page_switch_stays() -> None:
    """duration_s=0 keeps the page on screen through later wakes."""
    label = make_label()
    transfer(label, offer(C, 1, 10, page=1))
    transfer(label, offer(A, 2, 11))
    label.handle(PageSwitch(txn=4, page=1, duration_s=0), 0.0)
    assert label.wake(10_000.0, since=0.0) == []
    assert label.shown_page == 1
