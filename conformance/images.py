"""Deterministic test images and the offers that carry them (PROTOCOL.md §5).

The controller's `prepare_image` picks the smaller of a full frame and a delta; a conformance
scenario instead needs a given encoding and compression (FULL + NONE to withhold one of several
chunks, DELTA_XOR + ZLIB against what the device shows, a delta against a base it does not hold,
a wrong payload CRC). The bytes are built with the reference codec's helpers of
firmware_protocol.transfer, so every offer is exactly what §5.3-§5.4 describe.

Test images are patterns, not renders: a border, diagonal stripes and a band of seeded noise,
so that each seed gives other planes (another content hash) and a zlib payload of a few chunks.
"""

from __future__ import annotations

import hashlib
import random
import zlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_protocol.firmware import signed_manifest
from firmware_protocol.messages import NO_HASH, Compression, Desired, Encoding, FirmwareOffer
from firmware_protocol.models import DeviceModel, ModelId
from firmware_protocol.planes import content_hash, pack_planes
from firmware_protocol.transfer import (
    MAX_CHUNKS,
    MIN_CHUNK,
    PreparedImage,
    compress_planes,
    xor_bytes,
)
from firmware_protocol.wire import FirmwareVersion


def pattern_planes(model: DeviceModel, seed: int) -> bytes:
    """The bit planes of test image number `seed` for a label model (§5.1)."""
    w, h = model.width, model.height
    accent = 2 if model.palette is not None and model.palette.plane_count == 2 else 1
    rows = []
    for y in range(h):
        row = bytearray(((x + y + seed) // 6) % 2 for x in range(w))  # stripes, shifted by seed
        row[0] = row[w - 1] = 1
        rows.append(row)
    rows[0] = bytearray([1] * w)
    rows[h - 1] = bytearray([1] * w)
    rng = random.Random(seed)  # noqa: S311 - a test pattern, not a secret
    band = range(h // 4, min(h, h // 4 + max(8, h // 6)))
    for y in band:
        rows[y][8 : w - 8] = bytes(rng.choice((0, 1, accent)) for _ in range(w - 16))
    return pack_planes(b"".join(rows), model)


def with_box(planes: bytes, model: DeviceModel, seed: int) -> bytes:
    """`planes` with a small black box whose place depends on `seed`: a price-like change,
    so that the XOR delta is mostly zeros (§5.3)."""
    out = bytearray(planes)
    stride = model.stride
    x0 = (seed * 3) % max(1, stride - 4)
    y0 = (seed * 7) % max(1, model.height - 12)
    for y in range(y0, y0 + 10):
        for x in range(x0, x0 + 3):
            out[y * stride + x] = 0xFF
            if model.palette is not None and model.palette.plane_count == 2:
                out[model.plane_size + y * stride + x] = 0x00
    if bytes(out) == planes:  # the box was there already: invert it
        for y in range(y0, y0 + 10):
            for x in range(x0, x0 + 3):
                out[y * stride + x] = 0x00
    return bytes(out)


def make_offer(
    planes: bytes,
    *,
    revision: int,
    xfer_id: int,
    chunk_size: int,
    page: int = 0,
    encoding: Encoding = Encoding.FULL,
    compression: Compression = Compression.ZLIB,
    base: bytes | None = None,
) -> PreparedImage:
    """A Desired with exactly this encoding and compression, and its payload (§4.5, §5.3)."""
    if encoding is Encoding.DELTA_XOR:
        if base is None:
            raise ValueError("a DELTA_XOR offer needs its base planes")
        raw, base_hash = xor_bytes(planes, base), content_hash(base)
    else:
        raw, base_hash = planes, NO_HASH
    payload = compress_planes(raw) if compression is Compression.ZLIB else raw
    if chunk_size < MIN_CHUNK or -(-len(payload) // chunk_size) > MAX_CHUNKS:
        raise ValueError(f"{len(payload)} bytes cannot travel in chunks of {chunk_size}")
    desired = Desired(
        revision=revision,
        content_hash=content_hash(planes),
        page=page,
        xfer_id=xfer_id,
        encoding=encoding,
        compression=compression,
        base_hash=base_hash,
        raw_size=len(planes),
        payload_size=len(payload),
        payload_crc=zlib.crc32(payload),
        chunk_size=chunk_size,
    )
    return PreparedImage(desired, payload)


def several_chunks(payload_size: int, chunk_size: int, at_least: int = 3) -> int:
    """A chunk size giving at least `at_least` chunks: smaller than max_packet allows is
    allowed (a device takes chunk_size from the offer, §4.5)."""
    if -(-payload_size // chunk_size) >= at_least:
        return chunk_size
    return max(MIN_CHUNK, -(-payload_size // at_least))


# ---- firmware (§7.7) --------------------------------------------------------------------------

FIRMWARE_SIZE = 4096


def firmware_offer(
    *,
    txn: int,
    xfer_id: int,
    model: ModelId,
    version: FirmwareVersion,
    chunk_size: int,
    key: Ed25519PrivateKey,
) -> FirmwareOffer:
    """An offer signed with `key`: a throwaway key, so its signature never verifies on a
    device (which pins the vendor's key); the refusals checked before the signature do not
    depend on it."""
    image = bytes(range(256)) * (FIRMWARE_SIZE // 256)
    sha = hashlib.sha256(image).digest()
    signature = key.sign(signed_manifest(model, version, len(image), sha))
    return FirmwareOffer(
        txn=txn,
        xfer_id=xfer_id,
        model=model,
        version=version,
        size=len(image),
        chunk_size=chunk_size,
        sha256=sha,
        signature=signature,
    )


def older(version: FirmwareVersion) -> FirmwareVersion | None:
    """A version strictly older than `version`, or None for 0.0.0."""
    major, minor, patch = version.as_tuple()
    if patch:
        return FirmwareVersion(major, minor, patch - 1)
    if minor:
        return FirmwareVersion(major, minor - 1, 0xFFFF)
    if major:
        return FirmwareVersion(major - 1, 0xFF, 0xFFFF)
    return None


def newer(version: FirmwareVersion) -> FirmwareVersion:
    major, minor, patch = version.as_tuple()
    if patch < 0xFFFF:
        return FirmwareVersion(major, minor, patch + 1)
    if minor < 0xFF:
        return FirmwareVersion(major, minor + 1, 0)
    return FirmwareVersion(min(0xFF, major + 1), 0, 0)


def other_label_model(own: ModelId) -> ModelId:
    """Another label model than the device's own (for WRONG_MODEL)."""
    return ModelId.EPD154_BW if own is not ModelId.EPD154_BW else ModelId.EPD213_BW
