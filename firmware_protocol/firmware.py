"""Signed firmware updates (PROTOCOL.md §7.7).

The controller sends a FirmwareOffer with an Ed25519 signature over `signed_manifest(...)`;
chunks follow as CHUNK messages with the offer's xfer_id and resume like image transfers. A
device verifies the model, refuses a version that is not newer than its own, verifies the
signature with the vendor key pinned in its flash, and after the last chunk the SHA-256 of the
whole image, before it reboots into it.
"""

from __future__ import annotations

import hashlib
import struct

from firmware_protocol.errors import IntegrityError
from firmware_protocol.messages import FirmwareOffer
from firmware_protocol.models import ModelId
from firmware_protocol.wire import FirmwareVersion

MANIFEST_TAG = b"OSFW1"
_MANIFEST = struct.Struct(">5sHBBHI32s")


def signed_manifest(model: ModelId, version: FirmwareVersion, size: int, sha256: bytes) -> bytes:
    """The exact bytes an Ed25519 firmware signature covers (47 bytes, PROTOCOL.md §7.7)."""
    return _MANIFEST.pack(
        MANIFEST_TAG, model, version.major, version.minor, version.patch, size, sha256
    )


def offer_manifest(offer: FirmwareOffer) -> bytes:
    return signed_manifest(offer.model, offer.version, offer.size, offer.sha256)


def is_upgrade(current: FirmwareVersion, offered: FirmwareVersion) -> bool:
    return offered.as_tuple() > current.as_tuple()


def check_image(offer: FirmwareOffer, image: bytes) -> None:
    if len(image) != offer.size:
        raise IntegrityError(f"firmware is {len(image)} bytes, offer says {offer.size}")
    if hashlib.sha256(image).digest() != offer.sha256:
        raise IntegrityError(f"firmware {offer.version} SHA-256 mismatch")
