"""The controller's side of image transfers (PROTOCOL.md §5), sans-IO.

For each label there is at most one offer in flight: the latest image wins, an older offer is
simply forgotten (the label drops chunks of an xfer_id it no longer expects). The book answers the
label's transfer requests:
- MISSING_CHUNKS: exactly the chunks the bitmap names, from the same prepared payload;
- BASE_UNKNOWN / INTEGRITY_FAILED: a new full-frame offer for the same revision with a new
  xfer_id, at most `max_full_offers` times; after that the transfer has failed and the caller
  reports a problem (a label that corrupts every frame needs a person, not a loop);
- TOO_LARGE: the transfer has failed at once. The label cannot hold this image at all (a frame
  or payload beyond its memory, PROTOCOL.md §4.7): offering it again in full would fail the
  same way, and the label does not repeat the request.

A Reported with the offer's revision and content hash settles it. Requests for another revision
or transfer id than the one in flight are stale (the label had not seen the newer offer yet) and
get no answer: the newer offer's Desired, retained on the broker, reaches it.
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass
from enum import Enum

from firmware_protocol.messages import Message, Reported, XferReason, XferRequest
from firmware_protocol.transfer import (
    ImagePayload,
    PreparedImage,
    compress_planes,
    offer_payload,
    prepare_image,
)

MAX_XFER_ID = 2**32 - 1


class Outcome(Enum):
    SETTLED = "settled"  # the label reports the offered image
    FAILED = "failed"  # the label cannot take the image (too large, or every re-offer failed)
    IGNORED = "ignored"  # stale or unrelated: nothing to do


@dataclass(slots=True)
class _Offer:
    prepared: PreparedImage
    stored: bytes  # the planes compressed (~1 KB; a store's offers in flight stay small)
    page: int
    full_offers: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome | None  # None: the transfer goes on
    messages: tuple[Message, ...] = ()


class ImageTransfers:
    """Offers in flight, one per label, keyed by device id."""

    def __init__(self, *, max_full_offers: int = 3, first_xfer_id: int | None = None) -> None:
        self._offers: dict[str, _Offer] = {}
        self.max_full_offers = max_full_offers
        # A random start makes a restarted controller's ids unlikely to meet a label's old one.
        self._next_id = first_xfer_id if first_xfer_id is not None else secrets.randbelow(2**31)

    def _xfer_id(self) -> int:
        self._next_id = self._next_id % MAX_XFER_ID + 1
        return self._next_id

    def in_flight(self, device_id: str) -> int | None:
        """The revision being transferred to the label, if any."""
        offer = self._offers.get(device_id)
        return offer.prepared.desired.revision if offer else None

    def offer(
        self,
        device_id: str,
        planes: bytes,
        *,
        revision: int,
        chunk_size: int,
        base: bytes | None = None,
        page: int = 0,
        compressed: bytes | None = None,
    ) -> list[Message]:
        """Desired then every chunk: a delta against `base` (what the label shows) if smaller."""
        prepared = prepare_image(
            planes,
            revision=revision,
            xfer_id=self._xfer_id(),
            chunk_size=chunk_size,
            page=page,
            base=base,
            compressed=compressed,
        )
        stored = compressed if compressed is not None else compress_planes(planes)
        self._offers[device_id] = _Offer(prepared, stored, page)
        return [prepared.desired, *prepared.chunks()]

    def offer_prepared(
        self,
        device_id: str,
        payload: ImagePayload,
        *,
        stored: bytes,
        revision: int,
        chunk_size: int,
        page: int = 0,
    ) -> list[Message]:
        """`offer` for a payload built already (in a render worker): only the Desired and the
        chunks are made here. `stored`: the planes' zlib stream, for a full re-offer."""
        prepared = offer_payload(
            payload, revision=revision, xfer_id=self._xfer_id(), chunk_size=chunk_size, page=page
        )
        self._offers[device_id] = _Offer(prepared, stored, page)
        return [prepared.desired, *prepared.chunks()]

    def on_request(self, device_id: str, request: XferRequest) -> Answer:
        offer = self._offers.get(device_id)
        desired = offer.prepared.desired if offer else None
        if offer is None or desired is None or request.revision != desired.revision:
            return Answer(Outcome.IGNORED)
        if request.reason is XferReason.MISSING_CHUNKS:
            if request.xfer_id != desired.xfer_id:
                return Answer(Outcome.IGNORED)
            return Answer(None, tuple(offer.prepared.chunks_for(request)))
        if request.reason is XferReason.TOO_LARGE:
            del self._offers[device_id]
            return Answer(Outcome.FAILED)
        if offer.full_offers >= self.max_full_offers:
            del self._offers[device_id]
            return Answer(Outcome.FAILED)
        again = prepare_image(
            zlib.decompress(offer.stored),
            revision=desired.revision,
            xfer_id=self._xfer_id(),
            chunk_size=desired.chunk_size,
            page=offer.page,
            compressed=offer.stored,
        )
        self._offers[device_id] = _Offer(again, offer.stored, offer.page, offer.full_offers + 1)
        return Answer(None, (again.desired, *again.chunks()))

    def on_reported(self, device_id: str, reported: Reported) -> Outcome:
        offer = self._offers.get(device_id)
        if offer is None:
            return Outcome.IGNORED
        desired = offer.prepared.desired
        if reported.revision >= desired.revision and reported.content_hash == desired.content_hash:
            del self._offers[device_id]
            return Outcome.SETTLED
        return Outcome.IGNORED

    def forget(self, device_id: str) -> None:
        """Drop the offer (the label was unlinked or a newer image supersedes it elsewhere)."""
        self._offers.pop(device_id, None)
