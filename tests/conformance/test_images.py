"""The check's test images and offers: deterministic, of the model's size, exactly the encoding
and compression asked for, and decodable by the reference codec's receiver."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conformance.images import (
    firmware_offer,
    make_offer,
    newer,
    older,
    other_label_model,
    pattern_planes,
    several_chunks,
    with_box,
)
from firmware_protocol.firmware import offer_manifest
from firmware_protocol.messages import NO_HASH, Compression, Encoding
from firmware_protocol.models import LABEL_MODELS, ModelId, model
from firmware_protocol.planes import content_hash
from firmware_protocol.transfer import apply_image
from firmware_protocol.wire import FirmwareVersion


@pytest.mark.parametrize("label", LABEL_MODELS, ids=lambda m: m.name)
def test_patterns_are_deterministic_and_distinct(label) -> None:  # type: ignore[no-untyped-def]
    """Each seed gives the same planes every time, of the model's frame size; seeds differ."""
    first = pattern_planes(label, 1)
    assert len(first) == label.frame_size
    assert pattern_planes(label, 1) == first
    assert pattern_planes(label, 2) != first
    boxed = with_box(first, label, 3)
    assert len(boxed) == label.frame_size
    assert boxed != first


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("compression", list(Compression))
def test_offer_has_the_asked_encoding_and_applies(
    encoding: Encoding, compression: Compression
) -> None:
    """FULL/DELTA_XOR x NONE/ZLIB as asked (no automatic choice); the receiver gets the planes."""
    m = model(ModelId.EPD290_BWR)
    base = pattern_planes(m, 1)
    planes = with_box(base, m, 5)
    prepared = make_offer(
        planes,
        revision=7,
        xfer_id=70,
        chunk_size=512,
        encoding=encoding,
        compression=compression,
        base=base if encoding is Encoding.DELTA_XOR else None,
    )
    d = prepared.desired
    assert (d.encoding, d.compression, d.content_hash) == (
        encoding,
        compression,
        content_hash(planes),
    )
    assert d.base_hash == (content_hash(base) if encoding is Encoding.DELTA_XOR else NO_HASH)
    assert apply_image(d, b"".join(c.data for c in prepared.chunks()), base) == planes


def test_several_chunks_shrinks_the_chunk_only_when_needed() -> None:
    """A payload that fits one chunk is cut in three; a long one keeps the max_packet size."""
    assert several_chunks(100, 4000) == 34
    assert several_chunks(10_000, 1000) == 1000
    assert several_chunks(20, 4000) == 16  # never below the minimum chunk


def test_firmware_offer_is_signed_with_the_given_key_only() -> None:
    """The signature verifies with the throwaway key, so it is a bad one for any device."""
    key = Ed25519PrivateKey.generate()
    offer = firmware_offer(
        txn=1,
        xfer_id=2,
        model=ModelId.EPD290_BWR,
        version=FirmwareVersion(1, 2, 3),
        chunk_size=500,
        key=key,
    )
    key.public_key().verify(offer.signature, offer_manifest(offer))
    assert offer.chunk_count == 9


def test_older_newer_and_another_model() -> None:
    """Versions strictly below and above, none below 0.0.0; another label model."""
    assert older(FirmwareVersion(1, 0, 0)) == FirmwareVersion(0, 255, 65535)
    assert older(FirmwareVersion(1, 2, 0)) == FirmwareVersion(1, 1, 65535)
    assert older(FirmwareVersion(0, 0, 0)) is None
    assert newer(FirmwareVersion(1, 2, 65535)) == FirmwareVersion(1, 3, 0)
    assert other_label_model(ModelId.EPD154_BW) is not ModelId.EPD154_BW
    assert other_label_model(ModelId.EPD290_BWR).kind is ModelId.EPD290_BWR.kind
