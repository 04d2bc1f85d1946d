"""A transfer's payload built apart from its offer (in a controller's render worker) gives the
same offer as prepare_image, whatever the base."""

from __future__ import annotations

import pickle

import pytest

from firmware_protocol.errors import TransferError
from firmware_protocol.messages import Encoding
from firmware_protocol.planes import content_hash
from firmware_protocol.transfer import (
    apply_image,
    compress_planes,
    image_payload,
    offer_payload,
    prepare_image,
)

PLANES = bytes(range(256)) * 8
PRICE_CHANGE = PLANES[:100] + bytes(16) + PLANES[116:]


@pytest.mark.parametrize(
    "base", [None, PLANES, PLANES[:-1], bytes(len(PLANES))], ids=["none", "near", "size", "blank"]
)
def test_payload_then_offer_is_prepare_image(base: bytes | None) -> None:
    """offer_payload(image_payload(...)) == prepare_image(...) for every kind of base."""
    offered = offer_payload(
        image_payload(PRICE_CHANGE, base=base), revision=7, xfer_id=3, chunk_size=200, page=1
    )
    expected = prepare_image(PRICE_CHANGE, revision=7, xfer_id=3, chunk_size=200, page=1, base=base)
    assert offered == expected


def test_a_price_change_is_a_delta_the_receiver_applies() -> None:
    """Against a near base the payload is a delta, smaller than the full frame, carrying the
    base's hash; it survives pickling (it travels from a worker process)."""
    payload = pickle.loads(pickle.dumps(image_payload(PRICE_CHANGE, base=PLANES)))
    assert payload.encoding is Encoding.DELTA_XOR
    assert payload.base_hash == content_hash(PLANES)
    assert len(payload.data) < len(compress_planes(PRICE_CHANGE))
    offer = offer_payload(payload, revision=2, xfer_id=9, chunk_size=64)
    assert apply_image(offer.desired, offer.payload, PLANES) == PRICE_CHANGE


def test_the_given_full_stream_is_used_as_it_is() -> None:
    """With no base the payload is the caller's zlib stream, not a second compression."""
    stream = compress_planes(PLANES)
    assert image_payload(PLANES, compressed=stream).data is stream


def test_an_offer_checks_its_chunk_size() -> None:
    """Chunk sizes below the minimum and payloads beyond 65535 chunks are refused."""
    payload = image_payload(PLANES)
    with pytest.raises(TransferError, match="below the minimum"):
        offer_payload(payload, revision=1, xfer_id=1, chunk_size=8)
    big = image_payload(bytes(range(256)) * 4096, compressed=bytes(range(256)) * 4096)
    with pytest.raises(TransferError, match="65535 chunks"):
        offer_payload(big, revision=1, xfer_id=1, chunk_size=16)
