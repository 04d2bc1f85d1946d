"""Offers a label cannot take (PROTOCOL.md §4.7): TOO_LARGE fails at once, the other refusals
get the full re-offers."""

from __future__ import annotations

from controller.transfers import ImageTransfers, Outcome
from firmware_protocol.messages import NO_HASH, Desired, XferReason, XferRequest
from tests.support.label_kit import CHUNK, A

DEVICE = "lbl-1"


def test_too_large_fails_at_once_without_a_new_offer():
    """The first TOO_LARGE ends the transfer: FAILED, no messages, nothing left in flight."""
    book = ImageTransfers(first_xfer_id=1)
    desired = book.offer(DEVICE, A, revision=4, chunk_size=CHUNK)[0]
    assert isinstance(desired, Desired)
    refusal = XferRequest(4, desired.xfer_id, XferReason.TOO_LARGE, NO_HASH, b"")
    answer = book.on_request(DEVICE, refusal)
    assert answer.outcome is Outcome.FAILED
    assert answer.messages == ()
    assert book.in_flight(DEVICE) is None


def test_base_unknown_and_integrity_keep_three_full_offers():
    """BASE_UNKNOWN and INTEGRITY_FAILED are each answered with a full offer, three in all,
    then the transfer fails."""
    book = ImageTransfers(first_xfer_id=1)
    book.offer(DEVICE, A, revision=4, chunk_size=CHUNK)
    reasons = [XferReason.BASE_UNKNOWN, XferReason.INTEGRITY_FAILED, XferReason.BASE_UNKNOWN]
    answers = [
        book.on_request(DEVICE, XferRequest(4, 0, reason, NO_HASH, b""))
        for reason in [*reasons, XferReason.INTEGRITY_FAILED]
    ]
    assert [a.outcome for a in answers] == [None, None, None, Outcome.FAILED]
    assert all(isinstance(a.messages[0], Desired) for a in answers[:3])
