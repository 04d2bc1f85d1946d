"""Chunked image transfer: offers, chunk sizing, assembly, resume and integrity checks."""

from __future__ import annotations

import dataclasses
import random
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol import decode, encode
from firmware_protocol.errors import IntegrityError, TransferError
from firmware_protocol.messages import (
    NO_HASH,
    Chunk,
    Compression,
    Desired,
    Encoding,
    Opcode,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import ModelId, model
from firmware_protocol.planes import content_hash, pack_planes
from firmware_protocol.topics import (
    DeviceAddress,
)
from firmware_protocol.transfer import (
    MIN_CHUNK,
    BaseUnknown,
    ChunkAssembler,
    PreparedImage,
    apply_image,
    bitmap_from_indices,
    chunk_size_for,
    image_assembler,
    indices_from_bitmap,
    prepare_image,
)
from tests.support.transfer_kit import EPD290_BWR, PROPERTY, _random_pixels

# ---- transfer: prepare_image ------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_planes() -> bytes:
    """A busy 296x128 BWR image: random pixels, so a full frame compresses poorly."""
    return pack_planes(_random_pixels(EPD290_BWR, seed=290), EPD290_BWR)


@pytest.fixture(scope="module")
def edited_planes() -> bytes:
    """The base image with a 24x16 price box repainted black."""
    pixels = bytearray(_random_pixels(EPD290_BWR, seed=290))
    for y in range(40, 56):
        for x in range(200, 224):
            pixels[y * 296 + x] = 1
    return pack_planes(bytes(pixels), EPD290_BWR)


def test_prepare_full_image(base_planes: bytes) -> None:
    """Without a base the offer is a full zlib frame whose fields describe the payload exactly."""
    prepared = prepare_image(base_planes, revision=3, xfer_id=9, chunk_size=500, page=1)
    d = prepared.desired
    assert d.encoding is Encoding.FULL
    assert d.compression is Compression.ZLIB
    assert d.base_hash == NO_HASH
    assert (d.revision, d.xfer_id, d.page, d.chunk_size) == (3, 9, 1, 500)
    assert d.raw_size == 9472
    assert d.payload_size == len(prepared.payload)
    assert d.payload_crc == zlib.crc32(prepared.payload)
    assert d.content_hash == content_hash(base_planes)
    assert zlib.decompress(prepared.payload) == base_planes
    assert d.chunk_count == -(-len(prepared.payload) // 500)
    assert b"".join(c.data for c in prepared.chunks()) == prepared.payload


def test_prepare_uncompressed_image(base_planes: bytes) -> None:
    """With Compression.NONE the payload is the planes themselves."""
    prepared = prepare_image(
        base_planes, revision=1, xfer_id=1, chunk_size=1000, compression=Compression.NONE
    )
    assert prepared.payload == base_planes
    assert prepared.desired.compression is Compression.NONE
    assert prepared.desired.chunk_count == 10


def test_small_change_travels_as_a_small_delta(base_planes: bytes, edited_planes: bytes) -> None:
    """A small edit to a busy image is sent as DELTA_XOR, a tiny fraction of the full frame."""
    full = prepare_image(edited_planes, revision=2, xfer_id=1, chunk_size=256)
    delta = prepare_image(edited_planes, revision=2, xfer_id=1, chunk_size=256, base=base_planes)
    assert full.desired.encoding is Encoding.FULL
    assert delta.desired.encoding is Encoding.DELTA_XOR
    assert delta.desired.base_hash == content_hash(base_planes)
    assert delta.desired.content_hash == content_hash(edited_planes)
    assert delta.desired.raw_size == 9472
    assert delta.desired.payload_size * 20 < full.desired.payload_size
    assert delta.desired.chunk_count == 1


def test_totally_different_image_falls_back_to_full(base_planes: bytes) -> None:
    """When the XOR delta is no smaller than the full frame, the offer is FULL with no base."""
    blank = pack_planes(bytes(296 * 128), EPD290_BWR)
    prepared = prepare_image(blank, revision=2, xfer_id=1, chunk_size=256, base=base_planes)
    assert prepared.desired.encoding is Encoding.FULL
    assert prepared.desired.base_hash == NO_HASH
    assert zlib.decompress(prepared.payload) == blank


def test_base_of_another_size_falls_back_to_full(base_planes: bytes) -> None:
    """A base of a different panel size cannot be a delta base: the offer is FULL."""
    other = pack_planes(bytes(152 * 152), model(ModelId.EPD154_BW))
    prepared = prepare_image(base_planes, revision=2, xfer_id=1, chunk_size=256, base=other)
    assert prepared.desired.encoding is Encoding.FULL


def test_chunk_size_below_minimum_is_refused(base_planes: bytes) -> None:
    """prepare_image refuses chunks smaller than MIN_CHUNK."""
    with pytest.raises(TransferError):
        prepare_image(base_planes, revision=1, xfer_id=1, chunk_size=MIN_CHUNK - 1)
    prepare_image(base_planes, revision=1, xfer_id=1, chunk_size=MIN_CHUNK)


def test_more_than_65535_chunks_is_refused() -> None:
    """A payload needing more chunks than a u16 index can name raises TransferError."""
    planes = bytes(65535 * MIN_CHUNK + 1)
    with pytest.raises(TransferError):
        prepare_image(
            planes, revision=1, xfer_id=1, chunk_size=MIN_CHUNK, compression=Compression.NONE
        )
    fits = prepare_image(
        planes[:-1], revision=1, xfer_id=1, chunk_size=MIN_CHUNK, compression=Compression.NONE
    )
    assert fits.desired.chunk_count == 65535


# ---- transfer: chunk_size_for -----------------------------------------------------------------


def _mqtt311_publish_size(topic: str, payload_size: int) -> int:
    """Exact size of a QoS 1 MQTT 3.1.1 PUBLISH: fixed header with varint, topic, packet id."""
    remaining = 2 + len(topic.encode()) + 2 + payload_size
    varint = 1
    while remaining >= 128**varint:
        varint += 1
    return 1 + varint + remaining


CHUNK_TOPIC = DeviceAddress("store-1", "ap-01", "label-0042").topic(Opcode.CHUNK)


@pytest.mark.parametrize("max_packet", [128, 1024, 4096, 65536, 3_000_000])
def test_max_chunk_fills_max_packet_exactly(max_packet: int) -> None:
    """The largest chunk's CHUNK frame plus worst-case PUBLISH overhead is exactly max_packet."""
    size = chunk_size_for(max_packet, CHUNK_TOPIC)
    frame = encode(Chunk(xfer_id=2**32 - 1, index=65535, data=bytes(size)))
    worst_case = 5 + (2 + len(CHUNK_TOPIC.encode())) + 2 + len(frame)
    assert worst_case == max_packet
    assert _mqtt311_publish_size(CHUNK_TOPIC, len(frame)) <= max_packet
    bigger = encode(Chunk(xfer_id=1, index=0, data=bytes(size + 1)))
    assert 5 + 2 + len(CHUNK_TOPIC.encode()) + 2 + len(bigger) > max_packet


def test_chunk_size_for_a_large_packet_counts_the_full_fixed_header() -> None:
    """Above 2 MiB a PUBLISH's remaining length takes 4 bytes: the real packet is max_packet."""
    size = chunk_size_for(3_000_000, CHUNK_TOPIC)
    frame = encode(Chunk(xfer_id=1, index=0, data=bytes(size)))
    assert _mqtt311_publish_size(CHUNK_TOPIC, len(frame)) == 3_000_000


def test_chunk_size_for_refuses_a_tiny_packet() -> None:
    """A max packet leaving fewer than MIN_CHUNK data bytes raises TransferError."""
    overhead = 5 + 2 + len(CHUNK_TOPIC) + 2 + 12 + 10
    assert chunk_size_for(overhead + MIN_CHUNK, CHUNK_TOPIC) == MIN_CHUNK
    with pytest.raises(TransferError):
        chunk_size_for(overhead + MIN_CHUNK - 1, CHUNK_TOPIC)


# ---- transfer: ChunkAssembler -----------------------------------------------------------------


PAYLOAD = bytes(random.Random(7).randbytes(1000))


def _chunks(data: bytes, size: int, xfer_id: int = 5) -> list[Chunk]:
    return [
        Chunk(xfer_id=xfer_id, index=i, data=data[i * size : (i + 1) * size])
        for i in range(-(-len(data) // size))
    ]


def test_assembler_accepts_chunks_out_of_order() -> None:
    """Chunks arriving shuffled assemble the original payload; the last one may be short."""
    chunks = _chunks(PAYLOAD, 64)
    assert len(chunks[-1].data) == 1000 - 15 * 64
    random.Random(1).shuffle(chunks)
    asm = ChunkAssembler(5, len(PAYLOAD), 64, max_size=4096)
    assert asm.count == 16
    for n, chunk in enumerate(chunks, 1):
        assert not asm.complete
        assert asm.accept(chunk)
        assert asm.received == n
    assert asm.complete
    assert asm.missing() == []
    assert asm.payload() == PAYLOAD


def test_assembler_ignores_duplicates() -> None:
    """A chunk received twice is not stored again: accept answers False and nothing changes."""
    chunks = _chunks(PAYLOAD, 64)
    asm = ChunkAssembler(5, len(PAYLOAD), 64, max_size=4096)
    assert asm.accept(chunks[3])
    assert not asm.accept(chunks[3])
    assert not asm.accept(dataclasses.replace(chunks[3], data=bytes(64)))
    assert asm.received == 1
    for c in chunks:
        asm.accept(c)
    assert asm.payload() == PAYLOAD


def test_assembler_ignores_another_transfer() -> None:
    """A chunk with another xfer_id is ignored (False), even one of a wrong length."""
    asm = ChunkAssembler(5, len(PAYLOAD), 64, max_size=4096)
    assert not asm.accept(Chunk(xfer_id=6, index=0, data=PAYLOAD[:64]))
    assert not asm.accept(Chunk(xfer_id=6, index=0, data=b"x"))
    assert asm.received == 0
    assert asm.missing() == list(range(16))


@pytest.mark.parametrize(
    ("index", "length"),
    [(0, 63), (0, 65), (15, 64), (15, 39), (15, 0)],
    ids=["short", "long", "last-full", "last-short", "last-empty"],
)
def test_assembler_refuses_a_chunk_of_the_wrong_length(index: int, length: int) -> None:
    """A chunk whose data length is not chunk_size (or the remainder, for the last) is refused."""
    asm = ChunkAssembler(5, 1000, 64, max_size=4096)
    with pytest.raises(TransferError):
        asm.accept(Chunk(xfer_id=5, index=index, data=bytes(length)))
    assert asm.received == 0


def test_assembler_refuses_an_index_beyond_the_transfer() -> None:
    """A chunk index at or past the chunk count raises TransferError."""
    asm = ChunkAssembler(5, 1000, 64, max_size=4096)
    with pytest.raises(TransferError):
        asm.accept(Chunk(xfer_id=5, index=16, data=bytes(64)))


def test_assembler_refuses_a_transfer_larger_than_its_memory() -> None:
    """A transfer bigger than max_size is refused before any chunk arrives."""
    with pytest.raises(TransferError):
        ChunkAssembler(5, 4097, 64, max_size=4096)
    with pytest.raises(TransferError):
        ChunkAssembler(5, 10, 0, max_size=4096)


def test_incomplete_assembler_has_no_payload() -> None:
    """Asking for the payload before the last chunk raises TransferError."""
    asm = ChunkAssembler(5, 1000, 64, max_size=4096)
    for c in _chunks(PAYLOAD, 64)[:-1]:
        asm.accept(c)
    with pytest.raises(TransferError):
        asm.payload()
    assert asm.missing() == [15]


def test_bitmap_bit_order() -> None:
    """Bit i lives in byte i//8 under mask 0x80 >> i%8, and the bitmap is ceil(count/8) bytes."""
    assert bitmap_from_indices([0, 9], 10) == b"\x80\x40"
    assert bitmap_from_indices([7, 8, 15], 17) == b"\x01\x81\x00"
    assert bitmap_from_indices([], 0) == b""
    assert indices_from_bitmap(b"\x80\x40", 10) == [0, 9]
    with pytest.raises(TransferError):
        bitmap_from_indices([10], 10)
    with pytest.raises(TransferError):
        bitmap_from_indices([-1], 10)


@PROPERTY
@given(
    st.integers(1, 2000).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1))))
)
def test_property_bitmap_round_trip(case: tuple[int, set[int]]) -> None:
    """indices_from_bitmap(bitmap_from_indices(s, n), n) is s in ascending order."""
    count, indices = case
    bitmap = bitmap_from_indices(indices, count)
    assert len(bitmap) == -(-count // 8)
    assert indices_from_bitmap(bitmap, count) == sorted(indices)


@PROPERTY
@given(st.integers(1, 3000), st.integers(16, 300), st.data())
def test_property_missing_bitmap_names_exactly_the_missing_chunks(
    size: int, chunk_size: int, data: st.DataObject
) -> None:
    """After any subset of chunks arrives, the missing bitmap decodes to the complement."""
    payload = bytes(range(256)) * (size // 256 + 1)
    chunks = _chunks(payload[:size], chunk_size)
    got = data.draw(st.sets(st.sampled_from(range(len(chunks)))), label="received")
    asm = ChunkAssembler(5, size, chunk_size, max_size=size)
    for i in got:
        asm.accept(chunks[i])
    missing = sorted(set(range(len(chunks))) - got)
    assert asm.missing() == missing
    assert indices_from_bitmap(asm.missing_bitmap(), asm.count) == missing


# ---- transfer: apply_image --------------------------------------------------------------------


def test_apply_full_image(base_planes: bytes) -> None:
    """A full payload gives the planes back whatever the device showed before."""
    prepared = prepare_image(base_planes, revision=1, xfer_id=1, chunk_size=256)
    assert apply_image(prepared.desired, prepared.payload, None) == base_planes
    assert apply_image(prepared.desired, prepared.payload, bytes(9472)) == base_planes


def test_apply_delta_image(base_planes: bytes, edited_planes: bytes) -> None:
    """A delta payload applied to its base gives the new planes."""
    prepared = prepare_image(edited_planes, revision=2, xfer_id=1, chunk_size=256, base=base_planes)
    assert prepared.desired.encoding is Encoding.DELTA_XOR
    assert apply_image(prepared.desired, prepared.payload, base_planes) == edited_planes


def test_uncompressed_offer_with_a_base_stays_full(
    base_planes: bytes, edited_planes: bytes
) -> None:
    """Uncompressed, an XOR delta is never smaller than the frame, so FULL is sent and applies."""
    prepared = prepare_image(
        edited_planes,
        revision=2,
        xfer_id=1,
        chunk_size=256,
        base=base_planes,
        compression=Compression.NONE,
    )
    assert prepared.desired.encoding is Encoding.FULL
    assert apply_image(prepared.desired, prepared.payload, base_planes) == edited_planes


@pytest.mark.parametrize("shown", [None, "other", "short"])
def test_delta_on_an_unknown_base_is_base_unknown(
    base_planes: bytes, edited_planes: bytes, shown: str | None
) -> None:
    """A delta applied with no base, another image or a truncated base raises BaseUnknown."""
    prepared = prepare_image(edited_planes, revision=2, xfer_id=1, chunk_size=256, base=base_planes)
    actual = {None: None, "other": edited_planes, "short": base_planes[:-1]}[shown]
    with pytest.raises(BaseUnknown) as info:
        apply_image(prepared.desired, prepared.payload, actual)
    assert isinstance(info.value, TransferError)


@pytest.fixture(scope="module")
def full_offer(base_planes: bytes) -> PreparedImage:
    """A full zlib offer of the busy base image, in chunks of 256 bytes."""
    return prepare_image(base_planes, revision=4, xfer_id=3, chunk_size=256)


def test_crc_mismatch_is_integrity_error(full_offer: PreparedImage) -> None:
    """A payload with one corrupted byte fails the CRC check with IntegrityError."""
    corrupt = bytearray(full_offer.payload)
    corrupt[100] ^= 0x01
    with pytest.raises(IntegrityError):
        apply_image(full_offer.desired, bytes(corrupt), None)


def test_bad_zlib_is_integrity_error(full_offer: PreparedImage) -> None:
    """A payload with a valid CRC that does not inflate raises IntegrityError."""
    junk = b"\x78\x9c" + bytes(range(200))
    desired = dataclasses.replace(
        full_offer.desired, payload_crc=zlib.crc32(junk), payload_size=len(junk)
    )
    with pytest.raises(IntegrityError):
        apply_image(desired, junk, None)


def test_truncated_zlib_is_integrity_error(full_offer: PreparedImage) -> None:
    """A zlib stream cut short (with a matching CRC) raises IntegrityError."""
    cut = full_offer.payload[:-10]
    desired = dataclasses.replace(full_offer.desired, payload_crc=zlib.crc32(cut))
    with pytest.raises(IntegrityError):
        apply_image(desired, cut, None)


@pytest.mark.parametrize("extra", [b"\x00", b"junk after the stream", None])
def test_bytes_after_the_zlib_stream_are_integrity_error(
    full_offer: PreparedImage, extra: bytes | None
) -> None:
    """A payload that is a whole zlib stream plus trailing bytes (a second stream too) fails
    step 2 of §5.5: the payload of a ZLIB transfer is exactly one zlib stream (§5.3)."""
    tail = zlib.compress(b"more") if extra is None else extra
    padded = full_offer.payload + tail
    desired = dataclasses.replace(
        full_offer.desired, payload_crc=zlib.crc32(padded), payload_size=len(padded)
    )
    with pytest.raises(IntegrityError, match="after the end of its zlib stream"):
        apply_image(desired, padded, None)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_raw_size_is_integrity_error(full_offer: PreparedImage, delta: int) -> None:
    """A payload inflating to a size other than raw_size raises IntegrityError."""
    desired = dataclasses.replace(full_offer.desired, raw_size=full_offer.desired.raw_size + delta)
    with pytest.raises(IntegrityError):
        apply_image(desired, full_offer.payload, None)


def test_content_hash_mismatch_is_integrity_error(full_offer: PreparedImage) -> None:
    """Planes whose hash differs from content_hash raise IntegrityError."""
    desired = dataclasses.replace(full_offer.desired, content_hash=b"\xff" * 16)
    with pytest.raises(IntegrityError):
        apply_image(desired, full_offer.payload, None)


def test_inflating_stops_at_raw_size(full_offer: PreparedImage) -> None:
    """A payload inflating far past raw_size is refused without inflating all of it (5.3)."""
    bomb = zlib.compress(bytes(32 * 1024 * 1024), 9)
    desired = dataclasses.replace(
        full_offer.desired, payload_crc=zlib.crc32(bomb), payload_size=len(bomb)
    )
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError):
            apply_image(desired, bomb, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"{peak:,} bytes allocated to refuse a 9,472-byte image"


def test_prepared_image_answers_exactly_the_missing_chunks(full_offer: PreparedImage) -> None:
    """chunks_for a MISSING_CHUNKS request returns exactly the chunks whose bits are set."""
    count = full_offer.desired.chunk_count
    assert count > 4
    wanted = [0, 3, count - 1]
    request = XferRequest(
        revision=4,
        xfer_id=3,
        reason=XferReason.MISSING_CHUNKS,
        have_hash=NO_HASH,
        missing=bitmap_from_indices(wanted, count),
    )
    answer = full_offer.chunks_for(request)
    assert [c.index for c in answer] == wanted
    for c in answer:
        assert c.xfer_id == 3
        assert c.data == full_offer.payload[c.index * 256 : (c.index + 1) * 256]
    assert full_offer.chunks_for(dataclasses.replace(request, missing=b"")) == []


def test_prepared_image_ignores_bits_past_the_chunk_count(full_offer: PreparedImage) -> None:
    """A bitmap with every bit set, longer than needed, names exactly all real chunks."""
    count = full_offer.desired.chunk_count
    request = XferRequest(
        revision=4,
        xfer_id=3,
        reason=XferReason.MISSING_CHUNKS,
        have_hash=NO_HASH,
        missing=b"\xff" * (count // 8 + 4),
    )
    assert [c.index for c in full_offer.chunks_for(request)] == list(range(count))


@pytest.mark.parametrize(
    "reason", [r for r in XferReason if r is not XferReason.MISSING_CHUNKS], ids=lambda r: r.name
)
def test_prepared_image_refuses_other_reasons(
    full_offer: PreparedImage, reason: XferReason
) -> None:
    """A request for anything but missing chunks needs a new offer: TransferError."""
    request = XferRequest(revision=4, xfer_id=3, reason=reason, have_hash=NO_HASH, missing=b"\xff")
    with pytest.raises(TransferError):
        full_offer.chunks_for(request)


def test_prepared_image_refuses_another_transfer(full_offer: PreparedImage) -> None:
    """A request naming another xfer_id raises TransferError."""
    request = XferRequest(
        revision=4, xfer_id=4, reason=XferReason.MISSING_CHUNKS, have_hash=NO_HASH, missing=b"\x80"
    )
    with pytest.raises(TransferError):
        full_offer.chunks_for(request)


def test_whole_transfer_through_the_codec(base_planes: bytes, edited_planes: bytes) -> None:
    """Offer and chunks survive encode/decode, shuffled and duplicated, and rebuild the image."""
    sender = prepare_image(edited_planes, revision=9, xfer_id=21, chunk_size=16, base=base_planes)
    desired = decode(encode(sender.desired))
    assert isinstance(desired, Desired)
    assert desired == sender.desired
    frames = [encode(c) for c in sender.chunks()]
    frames += frames[:3]
    random.Random(3).shuffle(frames)
    asm = image_assembler(desired, max_size=EPD290_BWR.frame_size)
    for frame in frames:
        chunk = decode(frame)
        assert isinstance(chunk, Chunk)
        asm.accept(chunk)
    assert apply_image(desired, asm.payload(), base_planes) == edited_planes
