"""Signed firmware manifests, upgrade ordering and image checks."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_protocol import decode, encode
from firmware_protocol.errors import IntegrityError
from firmware_protocol.firmware import (
    check_image,
    is_upgrade,
    offer_manifest,
    signed_manifest,
)
from firmware_protocol.messages import (
    FirmwareOffer,
)
from firmware_protocol.models import ModelId
from firmware_protocol.wire import FirmwareVersion

# ---- firmware ---------------------------------------------------------------------------------

FW_IMAGE = random.Random(11).randbytes(5000)
FW_SHA = hashlib.sha256(FW_IMAGE).digest()


def _offer(**overrides: object) -> FirmwareOffer:
    values: dict[str, object] = {
        "txn": 1,
        "xfer_id": 2,
        "model": ModelId.EPD290_BWR,
        "version": FirmwareVersion(1, 3, 258),
        "size": len(FW_IMAGE),
        "chunk_size": 1024,
        "sha256": FW_SHA,
        "signature": bytes(64),
    }
    values.update(overrides)
    return FirmwareOffer(**values)  # type: ignore[arg-type]


def test_signed_manifest_field_layout() -> None:
    """The manifest is 'OSFW1', model u16, major u8, minor u8, patch u16, size u32, then SHA-256."""
    manifest = signed_manifest(ModelId.EPD290_BWR, FirmwareVersion(1, 3, 258), 5000, FW_SHA)
    assert manifest[:5] == b"OSFW1"
    assert manifest[5:7] == b"\x01\x22"
    assert manifest[7:11] == b"\x01\x03\x01\x02"
    assert manifest[11:15] == struct.pack(">I", 5000)
    assert manifest[-32:] == FW_SHA
    assert offer_manifest(_offer()) == manifest


def test_signed_manifest_is_the_47_bytes_of_protocol_7_7() -> None:
    """The signed manifest is exactly the 47 bytes PROTOCOL.md section 7.7 lays out."""
    manifest = signed_manifest(ModelId.EPD290_BWR, FirmwareVersion(1, 3, 258), 5000, FW_SHA)
    expected = (
        b"OSFW1"
        + (0x0122).to_bytes(2, "big")
        + bytes([1, 3])
        + (258).to_bytes(2, "big")
        + (5000).to_bytes(4, "big")
        + FW_SHA
    )
    assert len(expected) == 47
    assert manifest == expected


@pytest.mark.parametrize(
    ("current", "offered", "upgrade"),
    [
        ((1, 2, 3), (1, 2, 4), True),
        ((1, 2, 3), (1, 3, 0), True),
        ((1, 2, 3), (2, 0, 0), True),
        ((1, 9, 0), (1, 10, 0), True),  # numeric, not text, ordering
        ((1, 9, 65535), (2, 0, 0), True),
        ((1, 2, 3), (1, 2, 3), False),
        ((1, 10, 0), (1, 9, 99), False),
        ((2, 0, 0), (1, 99, 99), False),
        ((1, 2, 4), (1, 2, 3), False),
    ],
)
def test_is_upgrade_orders_versions_numerically(
    current: tuple[int, int, int], offered: tuple[int, int, int], upgrade: bool
) -> None:
    """Only a strictly newer major.minor.patch is an upgrade; equal and older are refused."""
    assert is_upgrade(FirmwareVersion(*current), FirmwareVersion(*offered)) is upgrade


def test_firmware_version_text_round_trip() -> None:
    """FirmwareVersion prints and parses as major.minor.patch and refuses other text."""
    v = FirmwareVersion(1, 10, 300)
    assert str(v) == "1.10.300"
    assert FirmwareVersion.parse("1.10.300") == v
    for bad in ("1.2", "1.2.3.4", "1.x.3", "", "v1.2.3"):
        with pytest.raises(ValueError, match=r"major\.minor\.patch"):
            FirmwareVersion.parse(bad)


def test_check_image_accepts_the_offered_image() -> None:
    """An image of the offered size and SHA-256 passes check_image."""
    check_image(_offer(), FW_IMAGE)


@pytest.mark.parametrize(
    "image",
    [FW_IMAGE[:-1], FW_IMAGE + b"\x00", FW_IMAGE[:-1] + bytes([FW_IMAGE[-1] ^ 1])],
    ids=["short", "long", "flipped"],
)
def test_check_image_refuses_size_or_sha_mismatch(image: bytes) -> None:
    """An image of another size or another SHA-256 raises IntegrityError."""
    with pytest.raises(IntegrityError):
        check_image(_offer(), image)


def test_ed25519_signature_over_the_manifest() -> None:
    """A vendor signature over offer_manifest verifies after the codec round trip."""
    key = Ed25519PrivateKey.generate()
    offer = _offer()
    signed = dataclasses.replace(offer, signature=key.sign(offer_manifest(offer)))
    received = decode(encode(signed))
    assert isinstance(received, FirmwareOffer)
    key.public_key().verify(received.signature, offer_manifest(received))


@pytest.mark.parametrize(
    "change",
    [
        {"version": FirmwareVersion(1, 3, 259)},
        {"version": FirmwareVersion(9, 0, 0)},
        {"model": ModelId.EPD290_BWY},
        {"size": len(FW_IMAGE) + 1},
        {"sha256": hashlib.sha256(b"evil").digest()},
    ],
    ids=["patch", "major", "model", "size", "sha256"],
)
def test_ed25519_signature_fails_after_a_change(change: dict[str, object]) -> None:
    """Changing version, model, size or digest of a signed offer breaks the signature."""
    key = Ed25519PrivateKey.generate()
    offer = _offer()
    signature = key.sign(offer_manifest(offer))
    tampered = dataclasses.replace(offer, signature=signature, **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature):
        key.public_key().verify(tampered.signature, offer_manifest(tampered))
