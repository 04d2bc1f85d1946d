"""Chunked transfers of images and firmware, sans-IO (PROTOCOL.md §5).

Sender: `prepare_image` turns bit planes into a Desired offer plus its payload, choosing an XOR
delta against the image the device reports when that is smaller than a full frame, and cuts the
payload into chunks that fit the device's max packet size. `chunks_for` answers an XferRequest.
It is `image_payload` (the CPU work, which a controller does where it renders) followed by
`offer_payload` (the Desired, cheap).

Receiver: a `ChunkAssembler` collects chunks in any order, ignores duplicates, reports the
missing ones as a bitmap (resume), and `apply_image` checks the payload CRC, undoes the
compression and the delta, and checks the final content hash.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from firmware_protocol.codec import OVERHEAD
from firmware_protocol.errors import IntegrityError, TransferError
from firmware_protocol.messages import (
    NO_HASH,
    Chunk,
    Compression,
    Desired,
    Encoding,
    XferReason,
    XferRequest,
)
from firmware_protocol.planes import content_hash

# PUBLISH fixed header (<=5) + topic length prefix (2) + packet id (2) + frame overhead +
# CHUNK fields before the data (xfer_id 4, index 2, blob length 4).
_PUBLISH_OVERHEAD = 5 + 2 + 2
_CHUNK_FIELDS = 4 + 2 + 4
MIN_CHUNK = 16
MAX_CHUNKS = 0xFFFF


def chunk_size_for(max_packet: int, topic: str) -> int:
    """Largest chunk data size whose whole MQTT PUBLISH fits in `max_packet` bytes."""
    size = max_packet - _PUBLISH_OVERHEAD - len(topic.encode()) - OVERHEAD - _CHUNK_FIELDS
    if size < MIN_CHUNK:
        raise TransferError(f"max packet {max_packet} leaves no room for chunk data")
    return size


def bitmap_from_indices(indices: Iterable[int], count: int) -> bytes:
    """Bit i set (byte i//8, mask 0x80 >> i%8) for each index; length ceil(count/8)."""
    out = bytearray((count + 7) // 8)
    for i in indices:
        if not 0 <= i < count:
            raise TransferError(f"chunk index {i} outside 0..{count - 1}")
        out[i // 8] |= 0x80 >> (i % 8)
    return bytes(out)


def indices_from_bitmap(bitmap: bytes, count: int) -> list[int]:
    return [i for i in range(min(count, len(bitmap) * 8)) if bitmap[i // 8] & (0x80 >> (i % 8))]


def xor_bytes(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise TransferError(f"cannot XOR {len(a)} bytes with {len(b)} bytes")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


# Level 6, not 9: on label planes level 9 takes six times the CPU (1.2 vs 0.2 ms for a 2.9"
# label here) for 1-2% fewer bytes, and a store-wide reprice compresses two streams per label.
ZLIB_LEVEL = 6


def compress_planes(planes: bytes) -> bytes:
    """The zlib stream the controller stores and offers as a full frame (§5.3)."""
    return zlib.compress(planes, ZLIB_LEVEL)


def _compress(data: bytes, compression: Compression) -> bytes:
    return compress_planes(data) if compression is Compression.ZLIB else data


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """What the sender keeps for one transfer: the offer and the payload it describes."""

    desired: Desired
    payload: bytes

    def chunk(self, index: int) -> Chunk:
        size = self.desired.chunk_size
        if not 0 <= index < self.desired.chunk_count:
            raise TransferError(f"chunk {index} outside 0..{self.desired.chunk_count - 1}")
        return Chunk(self.desired.xfer_id, index, self.payload[index * size : (index + 1) * size])

    def chunks(self) -> Iterator[Chunk]:
        return (self.chunk(i) for i in range(self.desired.chunk_count))

    def chunks_for(self, request: XferRequest) -> list[Chunk]:
        """The chunks a MISSING_CHUNKS request names; other reasons need a new offer."""
        if request.xfer_id != self.desired.xfer_id:
            raise TransferError(
                f"request for transfer {request.xfer_id}, this is {self.desired.xfer_id}"
            )
        if request.reason is not XferReason.MISSING_CHUNKS:
            raise TransferError(f"{request.reason.name} needs a new full offer, not chunks")
        return [
            self.chunk(i) for i in indices_from_bitmap(request.missing, self.desired.chunk_count)
        ]


@dataclass(frozen=True, slots=True)
class ImagePayload:
    """An image's transfer payload before it is offered: everything of a Desired but the
    revision, the transfer id, the page and the chunk size.

    Building it (the XOR delta, zlib, the hashes) is the CPU work of a transfer; it depends
    only on the planes and the base, so a controller builds it where it renders (a worker
    process) and offers it later with `offer_payload`, which only fills in the rest.
    """

    content_hash: bytes
    raw_size: int
    encoding: Encoding
    compression: Compression
    base_hash: bytes  # NO_HASH for a full frame
    data: bytes
    crc: int


def image_payload(
    planes: bytes,
    *,
    base: bytes | None = None,
    compression: Compression = Compression.ZLIB,
    compressed: bytes | None = None,
) -> ImagePayload:
    """The payload for `planes`: a delta against `base` (the planes the device shows) if that
    is smaller than the full frame. `compressed`: the zlib stream of `planes` if the caller has
    it already (the controller stores every desired image compressed)."""
    if compressed is not None and compression is Compression.ZLIB:
        full = compressed
    else:
        full = _compress(planes, compression)
    encoding, payload, base_hash = Encoding.FULL, full, NO_HASH
    if base is not None and len(base) == len(planes):
        delta = _compress(xor_bytes(planes, base), compression)
        if len(delta) < len(payload):
            encoding, payload, base_hash = Encoding.DELTA_XOR, delta, content_hash(base)
    return ImagePayload(
        content_hash(planes),
        len(planes),
        encoding,
        compression,
        base_hash,
        payload,
        zlib.crc32(payload),
    )


def offer_payload(
    payload: ImagePayload, *, revision: int, xfer_id: int, chunk_size: int, page: int = 0
) -> PreparedImage:
    """The offer of a prepared payload: a Desired and the chunks it describes (no hashing, no
    compression: cheap enough for an event loop)."""
    if chunk_size < MIN_CHUNK:
        raise TransferError(f"chunk size {chunk_size} is below the minimum {MIN_CHUNK}")
    size = len(payload.data)
    if -(-size // chunk_size) > MAX_CHUNKS:
        raise TransferError(f"{size} bytes in chunks of {chunk_size} exceed 65535 chunks")
    desired = Desired(
        revision=revision,
        content_hash=payload.content_hash,
        page=page,
        xfer_id=xfer_id,
        encoding=payload.encoding,
        compression=payload.compression,
        base_hash=payload.base_hash,
        raw_size=payload.raw_size,
        payload_size=size,
        payload_crc=payload.crc,
        chunk_size=chunk_size,
    )
    return PreparedImage(desired, payload.data)


def prepare_image(
    planes: bytes,
    *,
    revision: int,
    xfer_id: int,
    chunk_size: int,
    page: int = 0,
    base: bytes | None = None,
    compression: Compression = Compression.ZLIB,
    compressed: bytes | None = None,
) -> PreparedImage:
    """An offer for `planes`; a delta against `base` (the planes the device shows) if smaller.

    `compressed`: the zlib stream of `planes` if the caller has it already (the controller
    stores every desired image compressed), so that it is not compressed again.
    """
    if chunk_size < MIN_CHUNK:
        raise TransferError(f"chunk size {chunk_size} is below the minimum {MIN_CHUNK}")
    payload = image_payload(planes, base=base, compression=compression, compressed=compressed)
    return offer_payload(
        payload, revision=revision, xfer_id=xfer_id, chunk_size=chunk_size, page=page
    )


class ChunkAssembler:
    """Collects the chunks of one transfer; knows what is missing."""

    def __init__(self, xfer_id: int, size: int, chunk_size: int, *, max_size: int):
        if size > max_size:
            raise TransferError(f"transfer of {size} bytes exceeds the receiver's {max_size}")
        if chunk_size <= 0:
            raise TransferError("chunk size must be positive")
        self.xfer_id = xfer_id
        self.size = size
        self.chunk_size = chunk_size
        self.count = -(-size // chunk_size)
        self._parts: dict[int, bytes] = {}

    def expected_length(self, index: int) -> int:
        if index == self.count - 1:
            return self.size - index * self.chunk_size
        return self.chunk_size

    def accept(self, chunk: Chunk) -> bool:
        """Store a chunk of this transfer; False for a duplicate or a chunk of another one."""
        if chunk.xfer_id != self.xfer_id or chunk.index in self._parts:
            return False
        if not 0 <= chunk.index < self.count:
            raise TransferError(f"chunk {chunk.index} outside 0..{self.count - 1}")
        if len(chunk.data) != self.expected_length(chunk.index):
            raise TransferError(
                f"chunk {chunk.index} has {len(chunk.data)} bytes, "
                f"expected {self.expected_length(chunk.index)}"
            )
        self._parts[chunk.index] = chunk.data
        return True

    @property
    def received(self) -> int:
        return len(self._parts)

    @property
    def complete(self) -> bool:
        return len(self._parts) == self.count

    def missing(self) -> list[int]:
        return [i for i in range(self.count) if i not in self._parts]

    def missing_bitmap(self) -> bytes:
        return bitmap_from_indices(self.missing(), self.count)

    def payload(self) -> bytes:
        if not self.complete:
            raise TransferError(f"transfer {self.xfer_id} misses chunks {self.missing()[:8]}")
        return b"".join(self._parts[i] for i in range(self.count))


def image_assembler(desired: Desired, *, max_size: int) -> ChunkAssembler:
    return ChunkAssembler(
        desired.xfer_id, desired.payload_size, desired.chunk_size, max_size=max_size
    )


def _inflate(desired: Desired, payload: bytes) -> bytes:
    """Inflate at most raw_size + 1 bytes: a hostile payload cannot exhaust memory (§5.3).

    The payload must be exactly one zlib stream that ends at its last byte."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, desired.raw_size + 1)
    except zlib.error as exc:
        raise IntegrityError(f"payload of revision {desired.revision} does not inflate") from exc
    if len(raw) > desired.raw_size or inflater.unconsumed_tail or not inflater.eof:
        raise IntegrityError(
            f"payload of revision {desired.revision} does not inflate to {desired.raw_size} bytes"
        )
    if inflater.unused_data:
        # §5.3: the payload is exactly one zlib stream; bytes after its end are not "ignored",
        # they are a payload the sender did not mean (INTEGRITY_FAILED, §5.5 step 2).
        raise IntegrityError(
            f"payload of revision {desired.revision} has {len(inflater.unused_data)} bytes "
            "after the end of its zlib stream"
        )
    return raw


class BaseUnknown(TransferError):
    """The delta's base is not the image the receiver shows: it needs a full frame."""


def apply_image(desired: Desired, payload: bytes, shown: bytes | None) -> bytes:
    """The new planes from a complete payload; `shown` is what the receiver displays now."""
    if zlib.crc32(payload) != desired.payload_crc:
        raise IntegrityError(f"payload CRC mismatch for revision {desired.revision}")
    raw = _inflate(desired, payload) if desired.compression is Compression.ZLIB else payload
    if len(raw) != desired.raw_size:
        raise IntegrityError(f"payload inflates to {len(raw)} bytes, declared {desired.raw_size}")
    if desired.encoding is Encoding.DELTA_XOR:
        if shown is None or content_hash(shown) != desired.base_hash:
            raise BaseUnknown(
                f"delta of revision {desired.revision} needs a base this device lacks"
            )
        raw = xor_bytes(raw, shown)
    if content_hash(raw) != desired.content_hash:
        raise IntegrityError(f"content hash mismatch for revision {desired.revision}")
    return raw
