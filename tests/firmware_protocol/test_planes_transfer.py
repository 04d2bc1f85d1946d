"""Bit planes, chunked image transfers, signed firmware and the topic tree of protocol v1."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import struct
import tracemalloc
import zlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from firmware_protocol import ProtocolError, decode, encode
from firmware_protocol.errors import IntegrityError, TransferError
from firmware_protocol.firmware import (
    check_image,
    is_upgrade,
    offer_manifest,
    signed_manifest,
)
from firmware_protocol.messages import (
    DOWN_OPCODES,
    NO_HASH,
    UP_OPCODES,
    Chunk,
    Compression,
    Desired,
    Encoding,
    FirmwareOffer,
    Opcode,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import LABEL_MODELS, DeviceModel, ModelId, Palette, model
from firmware_protocol.planes import content_hash, pack_planes, unpack_planes
from firmware_protocol.topics import (
    DELIVERY,
    Channel,
    DeviceAddress,
    Direction,
    ParsedTopic,
    controller_subscription,
    device_subscription,
    parse_topic,
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
from firmware_protocol.wire import FirmwareVersion

PROPERTY = settings(max_examples=200, deadline=None)
EPD290_BWR = model(ModelId.EPD290_BWR)


def _random_pixels(m: DeviceModel, seed: int) -> bytes:
    """Palette indices 0..top spread over the whole panel."""
    assert m.palette is not None
    colours = len(m.palette.colours)
    table = bytes(i % colours for i in range(256))
    return random.Random(seed).randbytes(m.width * m.height).translate(table)


# ---- planes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("m", LABEL_MODELS, ids=[m.name for m in LABEL_MODELS])
def test_planes_round_trip_every_label_model(m: DeviceModel) -> None:
    """pack then unpack gives back every pixel, and the planes are exactly frame_size bytes."""
    pixels = _random_pixels(m, seed=m.id)
    assert m.palette is not None
    assert set(pixels) == set(range(len(m.palette.colours)))
    planes = pack_planes(pixels, m)
    plane_count = 1 if m.palette is Palette.BW else 2
    assert len(planes) == m.frame_size == ((m.width + 7) // 8) * m.height * plane_count
    assert unpack_planes(planes, m) == pixels


def test_label_models_cover_every_panel_and_palette() -> None:
    """LABEL_MODELS holds the 5 panel sizes in each of the 3 palettes."""
    assert len(LABEL_MODELS) == 15
    assert {(m.width, m.height) for m in LABEL_MODELS} == {
        (152, 152),
        (250, 122),
        (296, 128),
        (400, 300),
        (800, 480),
    }
    assert {m.palette for m in LABEL_MODELS} == set(Palette)


def test_296x128_bwr_is_9472_bytes() -> None:
    """A 2.9" black/white/red frame is 2 planes x 37 bytes x 128 rows = 9,472 bytes."""
    assert (EPD290_BWR.width, EPD290_BWR.height) == (296, 128)
    assert EPD290_BWR.frame_size == 9472
    assert len(pack_planes(bytes(296 * 128), EPD290_BWR)) == 9472


@pytest.mark.parametrize(
    ("model_id", "bad"),
    [(ModelId.EPD154_BW, 2), (ModelId.EPD213_BWR, 3), (ModelId.EPD420_BWY, 255)],
)
def test_pixel_index_outside_the_palette_is_refused(model_id: ModelId, bad: int) -> None:
    """A pixel index the panel's palette lacks raises TransferError."""
    m = model(model_id)
    pixels = bytearray(m.width * m.height)
    pixels[-1] = bad
    with pytest.raises(TransferError):
        pack_planes(bytes(pixels), m)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_pixel_count_is_refused(delta: int) -> None:
    """One pixel too few or too many raises TransferError."""
    with pytest.raises(TransferError):
        pack_planes(bytes(296 * 128 + delta), EPD290_BWR)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_plane_size_is_refused(delta: int) -> None:
    """Planes one byte short or long of frame_size raise TransferError on unpack."""
    with pytest.raises(TransferError):
        unpack_planes(bytes(9472 + delta), EPD290_BWR)


def test_model_without_panel_has_no_planes() -> None:
    """Packing or unpacking for a shelf sensor raises TransferError."""
    sensor = model(ModelId.SHELF_SENSOR_4)
    with pytest.raises(TransferError):
        pack_planes(b"", sensor)
    with pytest.raises(TransferError):
        unpack_planes(b"", sensor)


TEN_BY_TWO_BWR = DeviceModel(ModelId.EPD154_BWR, "test-10x2-bwr", 0.0, 10, 2, Palette.BWR)
TEN_BY_TWO_BW = DeviceModel(ModelId.EPD154_BW, "test-10x2-bw", 0.0, 10, 2, Palette.BW)
# row 0: 1 0 2 1 1 0 0 2 1 2     row 1: 0 1 0 1 0 1 0 1 2 1
TEN_BY_TWO_PIXELS = bytes([1, 0, 2, 1, 1, 0, 0, 2, 1, 2, 0, 1, 0, 1, 0, 1, 0, 1, 2, 1])


def test_hand_made_10x2_bwr_planes() -> None:
    """A 10x2 BWR image packs to bytes worked out by hand: MSB first, rows padded to 16 bits."""
    # black plane  row 0: 1001 1000 10|00 0000 -> 98 80   row 1: 0101 0101 01|00 0000 -> 55 40
    # accent plane row 0: 0010 0001 01|00 0000 -> 21 40   row 1: 0000 0000 10|00 0000 -> 00 80
    expected = bytes.fromhex("9880554021400080")
    assert TEN_BY_TWO_BWR.frame_size == 8
    assert pack_planes(TEN_BY_TWO_PIXELS, TEN_BY_TWO_BWR) == expected
    assert unpack_planes(expected, TEN_BY_TWO_BWR) == TEN_BY_TWO_PIXELS


def test_hand_made_10x2_bw_plane() -> None:
    """A 10x2 BW image packs to one plane worked out by hand."""
    pixels = bytes(1 if p == 1 else 0 for p in TEN_BY_TWO_PIXELS)
    expected = bytes.fromhex("98805540")
    assert pack_planes(pixels, TEN_BY_TWO_BW) == expected
    assert unpack_planes(expected, TEN_BY_TWO_BW) == pixels


def test_both_bits_set_shows_the_accent_colour() -> None:
    """A pixel set in both planes (never produced by pack) unpacks as the accent index 2."""
    planes = bytes.fromhex("ff c0 00 0080 00 00 00")
    assert unpack_planes(planes, TEN_BY_TWO_BWR) == bytes([2] + [1] * 9 + [0] * 10)


def test_content_hash_is_first_half_of_sha256() -> None:
    """content_hash is the first 16 bytes of SHA-256 over the planes."""
    planes = b"omnishelf planes"
    assert content_hash(planes) == hashlib.sha256(planes).digest()[:16]
    assert len(content_hash(b"")) == 16


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


# ---- topics -----------------------------------------------------------------------------------

# Written out by hand, independently of topics.DELIVERY.
EXPECTED_CHANNEL = {
    Opcode.BIRTH: ("up", "birth"),
    Opcode.DEATH: ("up", "death"),
    Opcode.REPORTED: ("up", "reported"),
    Opcode.TELEMETRY: ("up", "telemetry"),
    Opcode.EVENT: ("up", "event"),
    Opcode.XFER_REQUEST: ("up", "xfer"),
    Opcode.COMMAND_RESULT: ("up", "result"),
    Opcode.REQUEST: ("up", "request"),
    Opcode.DESIRED: ("down", "desired"),
    Opcode.CHUNK: ("down", "chunk"),
    Opcode.FIRMWARE_OFFER: ("down", "cmd"),
    Opcode.LED_FLASH: ("down", "cmd"),
    Opcode.PAGE_SWITCH: ("down", "cmd"),
    Opcode.FAST_WAKE: ("down", "cmd"),
    Opcode.PING: ("down", "cmd"),
    Opcode.REBOOT: ("down", "cmd"),
    Opcode.REBIRTH: ("down", "cmd"),
    Opcode.RESPONSE: ("down", "response"),
}
ADDRESS = DeviceAddress("store-7", "ap_3.lobby", "L0042")
STATE_DOCUMENTS = {Opcode.BIRTH, Opcode.DEATH, Opcode.REPORTED, Opcode.DESIRED}


def test_expected_channels_cover_every_opcode() -> None:
    """The hand-written channel table names every opcode once."""
    assert set(EXPECTED_CHANNEL) == set(Opcode)


@pytest.mark.parametrize("op", list(Opcode), ids=lambda o: o.name)
def test_topic_of_each_opcode(op: Opcode) -> None:
    """DeviceAddress.topic is os1/{store}/{up|down}/{gw}/{dev}/{channel} for every opcode."""
    direction, channel = EXPECTED_CHANNEL[op]
    assert ADDRESS.topic(op) == f"os1/store-7/{direction}/ap_3.lobby/L0042/{channel}"


@pytest.mark.parametrize("op", list(Opcode), ids=lambda o: o.name)
def test_parse_topic_round_trip(op: Opcode) -> None:
    """parse_topic of a device's topic gives back its direction, address and channel."""
    direction, channel = EXPECTED_CHANNEL[op]
    assert parse_topic(ADDRESS.topic(op)) == ParsedTopic(
        Direction(direction), ADDRESS, Channel(channel)
    )


def test_direct_device_is_its_own_gateway() -> None:
    """A directly connected device's topics carry its id as gateway and device."""
    direct = DeviceAddress.direct("s1", "lbl-1")
    assert direct.is_direct
    assert not ADDRESS.is_direct
    assert direct.topic(Opcode.BIRTH) == "os1/s1/up/lbl-1/lbl-1/birth"


def test_subscriptions_match_exactly_their_subtree() -> None:
    """A gateway's subscription matches its down topics only; the controller's all up topics."""
    gw_filter = device_subscription("store-7", "ap_3.lobby")
    ctl_filter = controller_subscription("store-7")
    other = DeviceAddress("store-7", "ap-4", "L0042")
    for op in Opcode:
        down = op in DOWN_OPCODES
        assert topic_matches_sub(gw_filter, ADDRESS.topic(op)) is down
        assert not topic_matches_sub(gw_filter, other.topic(op))
        assert topic_matches_sub(ctl_filter, ADDRESS.topic(op)) is not down
        assert not topic_matches_sub(controller_subscription("store-8"), ADDRESS.topic(op))


BAD_IDS = ["a/b", "a+b", "+", "#", "a#", "", "x" * 65, "-lead", ".lead", "a b", "ümlaut", "a\x00"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("position", ["store", "gateway", "device"])
def test_invalid_id_is_refused(position: str, bad: str) -> None:
    """An id with a separator, wildcard, bad character or wrong length raises ProtocolError."""
    ids = {"store": "s1", "gateway": "gw1", "device": "d1"}
    ids[position] = bad
    with pytest.raises(ProtocolError):
        DeviceAddress(**ids)


def test_id_of_64_characters_is_accepted() -> None:
    """The longest allowed id, 64 characters of the id alphabet, is accepted."""
    longest = "A" + "b_.-9" * 12 + "xyz"
    assert len(longest) == 64
    assert DeviceAddress(longest, longest, longest).topic(Opcode.PING).count(longest) == 3


@pytest.mark.parametrize("bad", ["abc\n", "x" * 64 + "\n"], ids=["newline", "64+newline"])
def test_id_with_trailing_newline_is_refused(bad: str) -> None:
    """An id ending in a newline is refused like any other character outside the id alphabet."""
    with pytest.raises(ProtocolError):
        DeviceAddress("s1", "gw1", bad)


@pytest.mark.parametrize(
    "topic",
    [
        "os1/s1/up/gw/dev",
        "os1/s1/up/gw/dev/birth/extra",
        "os2/s1/up/gw/dev/birth",
        "os1/s1/sideways/gw/dev/birth",
        "os1/s1/up/gw/dev/shout",
        "os1/s1/up/gw/+/birth",
        "os1/s1/up/gw//birth",
        "os1/s#/up/gw/dev/birth",
        "",
    ],
)
def test_parse_topic_refuses_foreign_topics(topic: str) -> None:
    """A topic outside the os1 tree, with a bad id, direction or channel raises ProtocolError."""
    with pytest.raises(ProtocolError):
        parse_topic(topic)


def test_every_opcode_has_a_delivery() -> None:
    """DELIVERY names channel, QoS and retain for every opcode, in the opcode's direction."""
    assert set(DELIVERY) == set(Opcode)
    for op, d in DELIVERY.items():
        assert d.direction is (Direction.UP if op in UP_OPCODES else Direction.DOWN)
        assert d.qos in (0, 1)


def test_only_state_documents_are_retained() -> None:
    """Exactly Birth, Death, Reported and Desired are retained; never a command or event."""
    assert {op for op, d in DELIVERY.items() if d.retain} == STATE_DOCUMENTS


def test_commands_are_qos1_and_not_retained() -> None:
    """Every controller->device message except Desired is QoS 1 and not retained."""
    commands = DOWN_OPCODES - {Opcode.DESIRED}
    assert Opcode.PING in commands
    assert Opcode.FIRMWARE_OFFER in commands
    for op in commands:
        assert DELIVERY[op].qos == 1, op
        assert DELIVERY[op].retain is False, op
    assert {op for op, d in DELIVERY.items() if d.channel is Channel.CMD} <= commands
