"""Malformed frames give the exact error; encode refuses out-of-range or mistyped fields."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from firmware_protocol import NEED_DATA, Decoder, ProtocolError, decode, encode
from firmware_protocol.codec import MAX_BODY
from firmware_protocol.errors import (
    BadMagic,
    ChecksumMismatch,
    FrameTooLarge,
    IncompleteFrame,
    MalformedBody,
    TrailingData,
    UnknownOpcode,
    UnsupportedVersion,
)
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Chunk,
    CommandStatus,
    Event,
    EventKind,
    FirmwareOffer,
    Message,
    Opcode,
    Ping,
    Reported,
    Response,
    ResponseStatus,
    Telemetry,
    XferReason,
    XferRequest,
    layout,
)
from firmware_protocol.models import ModelId
from firmware_protocol.wire import (
    FirmwareVersion,
)
from tests.support.codec_samples import FRAMES, SAMPLES, _body, _frame, _ids

# ---- malformed bytes -> the exact error --------------------------------------------------------

PING = encode(Ping(txn=1))


def test_wrong_magic_is_bad_magic() -> None:
    """A frame not starting with 'OS' is BadMagic, for decode() and for a Decoder."""
    frame = b"XS" + PING[2:]
    with pytest.raises(BadMagic) as info:
        decode(frame)
    assert info.value.offset == 0
    with pytest.raises(BadMagic):
        decode(b"OT" + PING[2:])
    decoder = Decoder()
    decoder.feed(frame)
    with pytest.raises(BadMagic):
        decoder.next_message()


@pytest.mark.parametrize("first", [b"X", b"OX", b"\x00"])
def test_decoder_reports_wrong_magic_before_a_whole_header(first: bytes) -> None:
    """A Decoder raises BadMagic as soon as the magic bytes are wrong, not after 8 bytes."""
    decoder = Decoder()
    decoder.feed(first)
    with pytest.raises(BadMagic):
        decoder.next_message()


def test_version_2_is_unsupported() -> None:
    """A frame of protocol version 2 is UnsupportedVersion, even with a correct CRC."""
    frame = _frame(Opcode.PING, _body(PING), version=2)
    with pytest.raises(UnsupportedVersion):
        decode(frame)
    decoder = Decoder()
    decoder.feed(frame)
    with pytest.raises(UnsupportedVersion):
        decoder.next_message()


def test_unknown_opcode() -> None:
    """Opcode 0x7F is UnknownOpcode, and the error carries the opcode."""
    frame = _frame(0x7F, b"")
    with pytest.raises(UnknownOpcode) as info:
        decode(frame)
    assert info.value.opcode == 0x7F
    decoder = Decoder()
    decoder.feed(frame)
    with pytest.raises(UnknownOpcode) as info:
        decoder.next_message()
    assert info.value.opcode == 0x7F


def test_declared_length_above_max_body_is_too_large() -> None:
    """A header declaring MAX_BODY + 1 body bytes is FrameTooLarge before any body arrives."""
    header = b"OS" + struct.pack(">BBI", 1, Opcode.CHUNK, MAX_BODY + 1)
    with pytest.raises(FrameTooLarge) as info:
        decode(header)
    assert info.value.opcode == Opcode.CHUNK
    decoder = Decoder()
    decoder.feed(header)
    with pytest.raises(FrameTooLarge):
        decoder.next_message()


def test_declared_length_of_exactly_max_body_waits_for_data() -> None:
    """MAX_BODY itself is allowed: a Decoder given only its header waits for the body."""
    decoder = Decoder()
    decoder.feed(b"OS" + struct.pack(">BBI", 1, Opcode.CHUNK, MAX_BODY))
    assert decoder.next_message() is NEED_DATA


def test_encoding_a_body_above_max_body_is_too_large() -> None:
    """encode() refuses a message whose body would exceed MAX_BODY."""
    with pytest.raises(FrameTooLarge):
        encode(Chunk(xfer_id=1, index=0, data=bytes(MAX_BODY)))


@pytest.mark.parametrize("msg", SAMPLES, ids=_ids(SAMPLES))
def test_flipped_bit_is_checksum_mismatch(msg: Message) -> None:
    """Any single flipped bit in body or CRC is ChecksumMismatch, carrying the opcode."""
    frame = encode(msg)
    for pos in range(8, len(frame)):
        corrupt = bytearray(frame)
        corrupt[pos] ^= 1 << (pos % 8)
        with pytest.raises(ChecksumMismatch) as info:
            decode(bytes(corrupt))
        assert info.value.opcode == msg.OPCODE
    decoder = Decoder()
    decoder.feed(frame[:8] + bytes([frame[8] ^ 0x80]) + frame[9:])
    with pytest.raises(ChecksumMismatch):
        decoder.next_message()


def test_trailing_byte_is_trailing_data() -> None:
    """One byte after a complete frame is TrailingData from decode(), with its offset."""
    with pytest.raises(TrailingData) as info:
        decode(PING + b"\x00")
    assert info.value.opcode == Opcode.PING
    assert info.value.offset == len(PING)


@pytest.mark.parametrize("msg", SAMPLES, ids=_ids(SAMPLES))
def test_body_one_byte_short_is_malformed(msg: Message) -> None:
    """A body missing its last byte, under a correct CRC, is MalformedBody with the opcode."""
    frame = _frame(msg.OPCODE, _body(encode(msg))[:-1])
    with pytest.raises(MalformedBody) as info:
        decode(frame)
    assert info.value.opcode == msg.OPCODE
    assert info.value.offset is not None
    decoder = Decoder()
    decoder.feed(frame)
    with pytest.raises(MalformedBody):
        decoder.next_message()


@pytest.mark.parametrize("msg", SAMPLES, ids=_ids(SAMPLES))
def test_extra_body_byte_is_malformed(msg: Message) -> None:
    """A body with one byte too many, under a correct CRC, is MalformedBody with the opcode."""
    body = _body(encode(msg))
    frame = _frame(msg.OPCODE, body + b"\x00")
    with pytest.raises(MalformedBody) as info:
        decode(frame)
    assert info.value.opcode == msg.OPCODE
    assert info.value.offset == len(body)


@pytest.mark.parametrize(
    ("opcode", "body"),
    [
        # Reported: revision u64, hash[16], shown_page u8, result u8 = 9 (no such ReportResult)
        (Opcode.REPORTED, struct.pack(">Q", 1) + NO_HASH + b"\x00\x09"),
        # Birth: session u32, model u16 = 0xFFFF (no such ModelId), ...
        (
            Opcode.BIRTH,
            struct.pack(">IH", 1, 0xFFFF)
            + struct.pack(">BBH", 1, 0, 0)
            + struct.pack(">IHHB", 4096, 3000, 60, 1)
            + struct.pack(">Q", 0)
            + NO_HASH
            + b"\x00",
        ),
        # LedFlash: txn u32, colour u8 = 0 (colours start at 1), pattern, duration
        (Opcode.LED_FLASH, struct.pack(">IBBH", 1, 0, 0, 5)),
    ],
    ids=["ReportResult", "ModelId", "LedColour"],
)
def test_invalid_enum_value_is_malformed(opcode: Opcode, body: bytes) -> None:
    """An enum field holding an undefined value, under a correct CRC, is MalformedBody."""
    with pytest.raises(MalformedBody) as info:
        decode(_frame(opcode, body))
    assert info.value.opcode == opcode


def test_invalid_utf8_is_malformed() -> None:
    """A str field that is not UTF-8, under a correct CRC, is MalformedBody at the text's offset."""
    bad = b"\xc3\x28"  # a lead byte followed by a non-continuation byte
    body = struct.pack(">IBH", 1, EventKind.BUTTON_PRESS, len(bad)) + bad
    with pytest.raises(MalformedBody) as info:
        decode(_frame(Opcode.EVENT, body))
    assert info.value.opcode == Opcode.EVENT
    assert info.value.offset == 7


def test_utf8_encoded_surrogate_is_malformed() -> None:
    """A UTF-8 encoded surrogate (CESU style) in a str field is MalformedBody, not a str."""
    bad = b"\xed\xa0\x80"
    body = struct.pack(">IB", 1, CommandStatus.OK) + struct.pack(">H", 3) + bad
    with pytest.raises(MalformedBody):
        decode(_frame(Opcode.COMMAND_RESULT, body))


@pytest.mark.parametrize(
    "text",
    [b"\x00", b"lane-1\x00", b"a\x00b", b"\xef\xbb\xbflane-1", b"\xef\xbb\xbf"],
    ids=["nul", "terminator", "inner-nul", "bom", "bom-only"],
)
def test_nul_or_leading_bom_in_a_str_is_malformed(text: bytes) -> None:
    """A str holding U+0000 anywhere, or starting with U+FEFF, is MalformedBody (§3.2)."""
    body = struct.pack(">IBH", 1, EventKind.LANE_EMPTY, len(text)) + text
    with pytest.raises(MalformedBody) as info:
        decode(_frame(Opcode.EVENT, body))
    assert info.value.opcode == Opcode.EVENT
    assert info.value.offset == 7


def test_bom_after_the_first_character_is_text() -> None:
    """U+FEFF inside a string (a zero-width no-break space) is ordinary text, not a BOM."""
    msg = Event(event_id=1, kind=EventKind.BUTTON_PRESS, subject="a\ufeffb")
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize(
    "msg",
    [
        Event(event_id=1, kind=EventKind.BUTTON_PRESS, subject="find\x00"),
        Event(event_id=1, kind=EventKind.BUTTON_PRESS, subject="\ufefffind"),
        Response(txn=1, status=ResponseStatus.OK, lines=("ok", "\x00")),
    ],
    ids=["nul", "bom", "nul-in-list"],
)
def test_encode_refuses_nul_or_leading_bom(msg: Message) -> None:
    """encode() refuses a str a receiver must reject (§3.2), naming the rule."""
    with pytest.raises(ProtocolError, match=r"§3\.2"):
        encode(msg)


def test_list_count_beyond_body_is_malformed() -> None:
    """A list whose u8 count promises more items than the body holds is MalformedBody."""
    body = struct.pack(">IBB", 1, ResponseStatus.OK, 3) + struct.pack(">H", 1) + b"a"
    with pytest.raises(MalformedBody) as info:
        decode(_frame(Opcode.RESPONSE, body))
    assert info.value.opcode == Opcode.RESPONSE


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"Q", BadMagic),
        (b"XS" + PING[2:], BadMagic),
        (PING[:-1] + bytes([PING[-1] ^ 1]), ChecksumMismatch),
        (_frame(Opcode.PING, b"\x00\x00\x00"), MalformedBody),
        (_frame(0x7F, b""), UnknownOpcode),
    ],
    ids=["magic-early", "magic", "crc", "short-body", "opcode"],
)
def test_decoder_stays_failed(data: bytes, error: type[ProtocolError]) -> None:
    """After an error a Decoder raises the same error again, even when valid frames follow."""
    decoder = Decoder()
    decoder.feed(data)
    with pytest.raises(error) as first:
        decoder.next_message()
    decoder.feed(PING)
    with pytest.raises(error) as second:
        decoder.next_message()
    assert second.value is first.value


def test_decoder_delivers_good_frames_before_a_bad_one() -> None:
    """Frames before a corrupt one are delivered; the corrupt one then raises."""
    decoder = Decoder()
    decoder.feed(FRAMES[0] + FRAMES[1] + b"XX")
    assert decoder.next_message() == SAMPLES[0]
    assert decoder.next_message() == SAMPLES[1]
    with pytest.raises(BadMagic):
        decoder.next_message()


def test_all_errors_are_protocol_errors() -> None:
    """Every codec error class is a ProtocolError, so one except clause catches them all."""
    for cls in (
        IncompleteFrame,
        BadMagic,
        UnsupportedVersion,
        UnknownOpcode,
        FrameTooLarge,
        ChecksumMismatch,
        MalformedBody,
        TrailingData,
    ):
        assert issubclass(cls, ProtocolError)


# ---- encode-side validation --------------------------------------------------------------------


def _birth(**overrides: Any) -> Birth:
    base: Birth = SAMPLES[0]  # type: ignore[assignment]
    values = {name: getattr(base, name) for name, _ in layout(Birth)}
    values.update(overrides)
    return Birth(**values)


@pytest.mark.parametrize(
    "msg",
    [
        Ping(txn=-1),
        Ping(txn=2**32),
        _birth(session=2**32),
        _birth(battery_mv=65536),
        _birth(pages=256),
        _birth(displayed_revision=2**64),
        _birth(displayed_hash=b"\x00" * 15),
        _birth(displayed_hash=b"\x00" * 17),
        _birth(firmware=FirmwareVersion(256, 0, 0)),
        _birth(firmware=FirmwareVersion(1, 0, 65536)),
        _birth(model=0x7777),
        Telemetry(seq=1, battery_mv=1, rssi_dbm=128, temperature_dc=0),
        Telemetry(seq=1, battery_mv=1, rssi_dbm=0, temperature_dc=-32769),
        Telemetry(seq=1, battery_mv=1, rssi_dbm=0, temperature_dc=0, lane_grams=(2**31,)),
        Telemetry(seq=1, battery_mv=1, rssi_dbm=0, temperature_dc=0, lane_grams=(0,) * 256),
        Reported(revision=1, content_hash=NO_HASH, shown_page=0, result=9),  # type: ignore[arg-type]
        Event(event_id=1, kind=EventKind.ITEM_IN, subject="x" * 65536),
        Event(event_id=1, kind=EventKind.ITEM_IN, subject="\ud800"),
        XferRequest(
            revision=1,
            xfer_id=1,
            reason=XferReason.TOO_LARGE,
            have_hash=NO_HASH,
            missing=bytes(65536),
        ),
        Response(txn=1, status=ResponseStatus.OK, lines=("",) * 256),
        FirmwareOffer(
            txn=1,
            xfer_id=1,
            model=ModelId.EPD154_BW,
            version=FirmwareVersion(1, 0, 0),
            size=1,
            chunk_size=1,
            sha256=b"\x00" * 31,
            signature=b"\x00" * 64,
        ),
        _birth(pages=1.0),
    ],
    ids=lambda m: type(m).__name__,
)
def test_encode_refuses_values_that_do_not_fit(msg: Message) -> None:
    """A field outside its wire type's range raises ProtocolError naming the opcode."""
    with pytest.raises(ProtocolError) as info:
        encode(msg)
    assert info.value.opcode == msg.OPCODE


def test_encode_refuses_an_int_in_a_blob_field() -> None:
    """An int given for a blob field is refused, not encoded as that many zero bytes."""
    msg = Chunk(xfer_id=1, index=0, data=3)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        encode(msg)


@pytest.mark.parametrize(
    "msg",
    [
        Chunk(xfer_id=1, index=0, data="text"),  # type: ignore[arg-type]
        Event(event_id=1, kind=EventKind.ITEM_IN, subject=b"bytes"),  # type: ignore[arg-type]
        _birth(firmware="1.2.3"),
        Telemetry(seq=1, battery_mv=1, rssi_dbm=0, temperature_dc=0, lane_grams=5),  # type: ignore[arg-type]
    ],
    ids=["str-as-blob", "bytes-as-str", "str-as-version", "int-as-list"],
)
def test_encode_refuses_wrongly_typed_values_with_protocol_error(msg: Message) -> None:
    """A wrongly typed field value raises ProtocolError like an out-of-range one does."""
    with pytest.raises(ProtocolError):
        encode(msg)
