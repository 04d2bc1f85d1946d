"""Golden vectors of PROTOCOL.md §9: the document's bytes and the codec agree exactly.

The messages below are written out field by field, independently of the document; the hex is
parsed from the fenced blocks of PROTOCOL.md (```vector NAME, ```pixels NAME, ```planes NAME,
```manifest NAME). A firmware engineer tests a device against the same blocks.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware_protocol import decode, encode
from firmware_protocol.firmware import check_image, offer_manifest, signed_manifest
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Chunk,
    CommandResult,
    CommandStatus,
    Compression,
    Death,
    Desired,
    Encoding,
    Event,
    EventKind,
    FastWake,
    FirmwareOffer,
    LedColour,
    LedFlash,
    LedPattern,
    Message,
    Opcode,
    PageSwitch,
    Ping,
    Rebirth,
    Reboot,
    Reported,
    ReportResult,
    Request,
    RequestKind,
    Response,
    ResponseStatus,
    Telemetry,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import DeviceModel, ModelId, Palette
from firmware_protocol.planes import content_hash, pack_planes, unpack_planes
from firmware_protocol.transfer import apply_image, image_assembler, indices_from_bitmap
from firmware_protocol.wire import FirmwareVersion

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware_protocol" / "PROTOCOL.md"

# §9.1: the 10x2 BWR test panel and its two images (image B is image A after a small change).
TEST_PANEL = DeviceModel(ModelId.EPD154_BWR, "test-10x2", width=10, height=2, palette=Palette.BWR)
PIXELS = {
    "image-a": bytes([0, 1, 1, 0, 2, 2, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 2, 1]),
    "image-b": bytes([0, 1, 1, 0, 2, 2, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 2, 2, 1]),
}
HASH_A = bytes.fromhex("5f21b214bc08dca835027afcf8ccf0f6")  # content hash of image A's planes
HASH_B = bytes.fromhex("83bc4b391f2aa744d6c6966625443d16")  # content hash of image B's planes
PLANES_A = bytes.fromhex("6100f0400c000080")
DELTA_A_TO_B_ZLIB = bytes.fromhex("78da63607060606060640000018a0042")  # zlib(planes A ^ planes B)

# §9.3: firmware 1.3.0 for the 2.9" BWR label, signed with the RFC 8032 §7.1 TEST 1 key.
FIRMWARE_IMAGE = bytes(range(256)) * 768
FIRMWARE_SHA256 = bytes.fromhex("6018a70f09e53d07ad99cde3bc4a15d00371d6217fcfd5ad86cd2cf8bbfe087c")
VENDOR_PUBLIC_KEY = bytes.fromhex(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)
FIRMWARE_SIGNATURE = bytes.fromhex(
    "dfac905ffb027214b407cb99d10db00d458cf8143db96d4be6a5bd06608c06d5"
    "8310acb58574c234aea5d2852a1a761b8e7877c856d1df2186e67ddcabc45a0f"
)

MESSAGES: dict[str, Message] = {
    "birth-label": Birth(
        session=7,
        model=ModelId.EPD290_BWR,
        firmware=FirmwareVersion(1, 2, 7),
        max_packet=512,
        battery_mv=2950,
        checkin_s=40,
        pages=7,
        displayed_revision=41,
        displayed_hash=HASH_A,
        shown_page=0,
    ),
    "birth-shelf-sensor": Birth(
        session=3,
        model=ModelId.SHELF_SENSOR_4,
        firmware=FirmwareVersion(2, 0, 1),
        max_packet=4096,
        battery_mv=0,
        checkin_s=0,
        pages=0,
        displayed_revision=0,
        displayed_hash=NO_HASH,
        shown_page=0,
    ),
    "death": Death(session=7),
    "reported-boot": Reported(
        revision=41, content_hash=HASH_A, shown_page=0, result=ReportResult.BOOT
    ),
    "reported-applied": Reported(
        revision=42, content_hash=HASH_B, shown_page=0, result=ReportResult.APPLIED
    ),
    "telemetry-label": Telemetry(seq=1, battery_mv=2950, rssi_dbm=-67, temperature_dc=215),
    "telemetry-shelf-sensor": Telemetry(
        seq=118, battery_mv=0, rssi_dbm=-48, temperature_dc=-35, lane_grams=(1250, 0, 3875, -12)
    ),
    "event-help-request": Event(event_id=3, kind=EventKind.HELP_REQUEST, subject="Çəkmə 42"),
    "event-lane-empty": Event(event_id=12, kind=EventKind.LANE_EMPTY, subject="lane-1"),
    "xfer-request-missing": XferRequest(
        revision=42,
        xfer_id=0x2A02,
        reason=XferReason.MISSING_CHUNKS,
        have_hash=HASH_A,
        missing=b"\x80",
    ),
    "xfer-request-base-unknown": XferRequest(
        revision=42,
        xfer_id=0x2A02,
        reason=XferReason.BASE_UNKNOWN,
        have_hash=NO_HASH,
        missing=b"",
    ),
    "command-result-ok": CommandResult(txn=0x1002, status=CommandStatus.OK),
    "command-result-in-progress": CommandResult(
        txn=0x1007, status=CommandStatus.IN_PROGRESS, detail="0/438 chunks"
    ),
    "request-stock-query": Request(
        txn=5, kind=RequestKind.STOCK_QUERY, subject="3034257BF7194E4000001A85"
    ),
    "desired-full": Desired(
        revision=41,
        content_hash=HASH_A,
        page=0,
        xfer_id=0x2A01,
        encoding=Encoding.FULL,
        compression=Compression.NONE,
        base_hash=NO_HASH,
        raw_size=8,
        payload_size=8,
        payload_crc=0x936C0284,
        chunk_size=16,
    ),
    "chunk-full": Chunk(xfer_id=0x2A01, index=0, data=PLANES_A),
    "desired-delta": Desired(
        revision=42,
        content_hash=HASH_B,
        page=0,
        xfer_id=0x2A02,
        encoding=Encoding.DELTA_XOR,
        compression=Compression.ZLIB,
        base_hash=HASH_A,
        raw_size=8,
        payload_size=16,
        payload_crc=0x8354FDEA,
        chunk_size=16,
    ),
    "chunk-delta": Chunk(xfer_id=0x2A02, index=0, data=DELTA_A_TO_B_ZLIB),
    "firmware-offer": FirmwareOffer(
        txn=0x1007,
        xfer_id=0x2A03,
        model=ModelId.EPD290_BWR,
        version=FirmwareVersion(1, 3, 0),
        size=196608,
        chunk_size=449,
        sha256=FIRMWARE_SHA256,
        signature=FIRMWARE_SIGNATURE,
    ),
    "led-flash": LedFlash(
        txn=0x1002, colour=LedColour.GREEN, pattern=LedPattern.BLINK_FAST, duration_s=30
    ),
    "page-switch": PageSwitch(txn=0x1003, page=2, duration_s=10),
    "fast-wake": FastWake(txn=0x1004, duration_s=120, interval_ms=1000),
    "ping": Ping(txn=0x1005),
    "reboot": Reboot(txn=0x1006),
    "rebirth": Rebirth(txn=0x1008),
    "response-stock": Response(
        txn=5,
        status=ResponseStatus.OK,
        lines=("Beden 38: mağazada 2", "Beden 40: tükendi", "Beden 42: online 5"),
    ),
}

_BLOCK = re.compile(r"^```(\w+) ([a-z0-9][a-z0-9.-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@functools.cache
def _document_blocks(kind: str) -> dict[str, str]:
    blocks: dict[str, str] = {}
    for found_kind, name, text in _BLOCK.findall(PROTOCOL_MD.read_text(encoding="utf-8")):
        if found_kind != kind:
            continue
        assert name not in blocks, f"PROTOCOL.md has two ```{kind} {name} blocks"
        blocks[name] = text
    return blocks


def _hex_blocks(kind: str) -> dict[str, bytes]:
    return {
        name: bytes.fromhex("".join(text.split())) for name, text in _document_blocks(kind).items()
    }


def _pixel_blocks() -> dict[str, bytes]:
    return {
        name: bytes(int(digit) for digit in "".join(text.split()))
        for name, text in _document_blocks("pixels").items()
    }


def _vector(name: str) -> bytes:
    vectors = _hex_blocks("vector")
    if name not in vectors:
        pytest.fail(f"PROTOCOL.md has no ```vector {name} block")
    return vectors[name]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_message_encodes_to_documented_frame(name: str) -> None:
    """encode() of each §9 message gives exactly the frame bytes printed in PROTOCOL.md."""
    assert encode(MESSAGES[name]).hex() == _vector(name).hex()


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_documented_frame_decodes_to_message(name: str) -> None:
    """decode() of each frame printed in PROTOCOL.md gives back exactly the §9 message."""
    assert decode(_vector(name)) == MESSAGES[name]


def test_document_and_test_name_the_same_vectors() -> None:
    """Every ```vector block in PROTOCOL.md has a message here, and every message has a block."""
    assert sorted(_hex_blocks("vector")) == sorted(MESSAGES)


def test_every_opcode_has_a_vector() -> None:
    """The vectors exercise every opcode of protocol v1 at least once."""
    covered = {message.OPCODE for message in MESSAGES.values()}
    assert sorted(set(Opcode) - covered) == []


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_documented_frame_header_and_crc_follow_section_3(name: str) -> None:
    """Each frame's header and CRC-32, checked by hand with binascii, match §3 (not the codec)."""
    frame = _vector(name)
    magic, version, opcode, length = struct.unpack_from(">2sBBI", frame)
    assert (magic, version, opcode) == (b"OS", 1, MESSAGES[name].OPCODE)
    assert len(frame) == 8 + length + 4
    assert frame[-4:] == binascii.crc32(frame[:-4]).to_bytes(4, "big")


@pytest.mark.parametrize("name", sorted(PIXELS))
def test_documented_pixels_are_the_test_images(name: str) -> None:
    """The ```pixels blocks of §9.1 are the two 10x2 test images used here."""
    assert _pixel_blocks()[name] == PIXELS[name]


@pytest.mark.parametrize("name", sorted(PIXELS))
def test_documented_planes_follow_the_bit_order_of_section_5_1(name: str) -> None:
    """The ```planes blocks equal a straightforward per-pixel packing written from §5.1's text."""
    pixels, width = PIXELS[name], TEST_PANEL.width
    expected = bytearray()
    for colour in (1, 2):  # plane 0: black pixels, plane 1: accent pixels
        for row in range(TEST_PANEL.height):
            bits = [pixels[row * width + x] == colour for x in range(width)]
            bits += [False] * (-width % 8)  # pad each row to a whole byte with 0 bits
            for start in range(0, len(bits), 8):
                expected.append(
                    sum(0x80 >> i for i, bit in enumerate(bits[start : start + 8]) if bit)
                )
    assert _hex_blocks("planes")[name] == bytes(expected)


@pytest.mark.parametrize("name", sorted(PIXELS))
def test_documented_planes_unpack_to_the_pixels(name: str) -> None:
    """planes.unpack_planes turns each ```planes block back into its pixel indices."""
    assert unpack_planes(_hex_blocks("planes")[name], TEST_PANEL) == PIXELS[name]


@pytest.mark.parametrize("name", sorted(PIXELS))
def test_pixels_pack_to_the_documented_planes(name: str) -> None:
    """planes.pack_planes turns each ```pixels block into its ```planes block."""
    assert pack_planes(PIXELS[name], TEST_PANEL) == _hex_blocks("planes")[name]


def test_content_hashes_are_sha256_prefixes_of_the_documented_planes() -> None:
    """The hashes in the vectors are the first 16 bytes of SHA-256 over the §9.1 planes."""
    planes = _hex_blocks("planes")
    assert content_hash(planes["image-a"]) == hashlib.sha256(planes["image-a"]).digest()[:16]
    assert (content_hash(planes["image-a"]), content_hash(planes["image-b"])) == (HASH_A, HASH_B)


def test_full_transfer_vectors_rebuild_image_a() -> None:
    """desired-full plus chunk-full, assembled and applied on a blank panel, give image A."""
    desired, chunk = decode(_vector("desired-full")), decode(_vector("chunk-full"))
    assert isinstance(desired, Desired)
    assert isinstance(chunk, Chunk)
    assembler = image_assembler(desired, max_size=TEST_PANEL.frame_size)
    assert assembler.accept(chunk)
    assert assembler.complete
    planes = apply_image(desired, assembler.payload(), shown=None)
    assert planes == _hex_blocks("planes")["image-a"]


def test_delta_transfer_vectors_turn_image_a_into_image_b() -> None:
    """desired-delta plus chunk-delta, applied on a panel showing image A, give image B."""
    desired, chunk = decode(_vector("desired-delta")), decode(_vector("chunk-delta"))
    assert isinstance(desired, Desired)
    assert isinstance(chunk, Chunk)
    planes = _hex_blocks("planes")
    missing = MESSAGES["xfer-request-missing"]
    assert isinstance(missing, XferRequest)
    assembler = image_assembler(desired, max_size=64)
    assert assembler.missing_bitmap() == missing.missing
    assert assembler.accept(chunk)
    assert not assembler.accept(chunk)  # a duplicate is ignored
    assert apply_image(desired, assembler.payload(), shown=planes["image-a"]) == planes["image-b"]


def test_missing_chunks_vector_names_chunk_zero_of_the_delta_transfer() -> None:
    """xfer-request-missing asks for chunk 0 of the transfer that desired-delta announced."""
    request, desired = decode(_vector("xfer-request-missing")), decode(_vector("desired-delta"))
    assert isinstance(request, XferRequest)
    assert isinstance(desired, Desired)
    assert (request.revision, request.xfer_id) == (desired.revision, desired.xfer_id)
    assert indices_from_bitmap(request.missing, desired.chunk_count) == [0]


def test_documented_manifest_is_what_the_firmware_signature_covers() -> None:
    """The ```manifest block is the offer's signed manifest, and its Ed25519 signature verifies."""
    offer = decode(_vector("firmware-offer"))
    assert isinstance(offer, FirmwareOffer)
    manifest = _hex_blocks("manifest")["firmware-1.3.0"]
    assert offer_manifest(offer) == manifest
    assert manifest == signed_manifest(
        ModelId.EPD290_BWR, FirmwareVersion(1, 3, 0), len(FIRMWARE_IMAGE), FIRMWARE_SHA256
    )
    Ed25519PublicKey.from_public_bytes(VENDOR_PUBLIC_KEY).verify(offer.signature, manifest)
    check_image(offer, FIRMWARE_IMAGE)
    assert offer.chunk_count == 438
