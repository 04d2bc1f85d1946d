"""The frame codec in the four mqtt5/h11 families: round trip, prefixes, malformed bytes, property.

Malformed frames are built by hand here (struct + zlib.crc32), never by the encoder under test,
so a wrong header or CRC in the codec cannot hide behind the same mistake in the test.
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum
from typing import Any, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    MESSAGE_TYPES,
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
    layout,
)
from firmware_protocol.models import ModelId
from firmware_protocol.wire import (
    BITMAP,
    BLOB,
    HASH16,
    I8,
    I16,
    I32,
    I32_LIST,
    SHA256,
    SIGNATURE,
    STR,
    STR_LIST,
    U8,
    U16,
    U32,
    U64,
    VERSION,
    FirmwareVersion,
    WireType,
)

# Dotless i (U+0131), dotted I (U+0130) on purpose: Turkish/Azerbaijani text must survive.
TURKISH = "İstanbul Iğdır ışık şeker ÇÖÜ; Azərbaycan Ələt"  # noqa: RUF001

SAMPLES: tuple[Message, ...] = (
    Birth(
        session=7,
        model=ModelId.EPD290_BWR,
        firmware=FirmwareVersion(1, 4, 300),
        max_packet=4096,
        battery_mv=2980,
        checkin_s=300,
        pages=4,
        displayed_revision=2**63 + 5,
        displayed_hash=bytes(range(16)),
        shown_page=2,
    ),
    Death(session=2**32 - 1),
    Reported(
        revision=12, content_hash=b"\xaa" * 16, shown_page=0, result=ReportResult.STALE_IGNORED
    ),
    Telemetry(
        seq=9, battery_mv=3100, rssi_dbm=-128, temperature_dc=-327, lane_grams=(-1, 2**31 - 1)
    ),
    Event(event_id=3, kind=EventKind.HELP_REQUEST, subject=TURKISH),
    XferRequest(
        revision=44,
        xfer_id=0xDEADBEEF,
        reason=XferReason.MISSING_CHUNKS,
        have_hash=NO_HASH,
        missing=b"\x80\x01",
    ),
    CommandResult(txn=5, status=CommandStatus.BAD_SIGNATURE, detail="signature ≠ vendor key"),
    Request(txn=6, kind=RequestKind.STOCK_QUERY, subject="urn:epc:id:sgtin:0614141.107346.2017"),
    Desired(
        revision=45,
        content_hash=b"\x01" * 16,
        page=1,
        xfer_id=77,
        encoding=Encoding.DELTA_XOR,
        compression=Compression.ZLIB,
        base_hash=b"\x02" * 16,
        raw_size=9472,
        payload_size=311,
        payload_crc=0x12345678,
        chunk_size=200,
    ),
    Chunk(xfer_id=77, index=65535, data=bytes(range(256)) * 3),
    FirmwareOffer(
        txn=8,
        xfer_id=78,
        model=ModelId.EPD154_BW,
        version=FirmwareVersion(2, 0, 1),
        size=123456,
        chunk_size=1000,
        sha256=b"\x33" * 32,
        signature=b"\x44" * 64,
    ),
    LedFlash(txn=9, colour=LedColour.BLUE, pattern=LedPattern.DOUBLE, duration_s=30),
    PageSwitch(txn=10, page=3, duration_s=0),
    FastWake(txn=11, duration_s=600, interval_ms=250),
    Ping(txn=0),
    Reboot(txn=12),
    Rebirth(txn=13),
    Response(txn=14, status=ResponseStatus.OK, lines=("M: 2 in store", "", TURKISH)),
)

FRAMES = [encode(m) for m in SAMPLES]


def _ids(values: Any) -> list[str]:
    return [type(m).__name__ for m in values]


def _frame(opcode: int, body: bytes, *, version: int = 1, magic: bytes = b"OS") -> bytes:
    """A frame built independently of the codec, with a correct CRC-32."""
    head = magic + struct.pack(">BBI", version, opcode, len(body))
    return head + body + struct.pack(">I", zlib.crc32(head + body))


def _body(frame: bytes) -> bytes:
    return frame[8:-4]


def _drain(decoder: Decoder) -> list[Message]:
    out = []
    while (msg := decoder.next_message()) is not NEED_DATA:
        assert isinstance(msg, Message)
        out.append(msg)
    return out


# ---- round trip ---------------------------------------------------------------------------------


def test_samples_cover_every_message_class() -> None:
    """The representative samples include exactly one instance of every opcode's class."""
    assert sorted(type(m).__name__ for m in SAMPLES) == sorted(
        c.__name__ for c in MESSAGE_TYPES.values()
    )


@pytest.mark.parametrize("msg", SAMPLES, ids=_ids(SAMPLES))
def test_round_trip(msg: Message) -> None:
    """decode(encode(m)) == m, with the frame's header naming the message's opcode."""
    frame = encode(msg)
    assert frame[:2] == b"OS"
    assert frame[2] == 1
    assert frame[3] == msg.OPCODE
    assert struct.unpack(">I", frame[4:8])[0] == len(frame) - 12
    assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4])
    assert decode(frame) == msg
    assert decode(bytearray(frame)) == msg
    assert decode(memoryview(frame)) == msg


@pytest.mark.parametrize("msg", SAMPLES, ids=_ids(SAMPLES))
def test_round_trip_through_decoder_byte_by_byte(msg: Message) -> None:
    """A Decoder fed one byte at a time answers NEED_DATA until the last byte, then the message."""
    frame = encode(msg)
    decoder = Decoder()
    for i in range(len(frame) - 1):
        decoder.feed(frame[i : i + 1])
        assert decoder.next_message() is NEED_DATA
    decoder.feed(frame[-1:])
    assert decoder.next_message() == msg
    assert decoder.next_message() is NEED_DATA
    assert decoder.buffered == 0


def test_decoder_yields_concatenated_frames_in_order() -> None:
    """All sample frames fed in one piece come out in order, twice over, leaving nothing behind."""
    decoder = Decoder()
    decoder.feed(b"".join(FRAMES) * 2)
    assert _drain(decoder) == list(SAMPLES) * 2
    assert decoder.buffered == 0


def test_decoder_keeps_a_partial_next_frame() -> None:
    """Bytes of the next frame after a complete one stay buffered until that frame completes."""
    first, second = FRAMES[0], FRAMES[1]
    decoder = Decoder()
    decoder.feed(first + second[:5])
    assert _drain(decoder) == [SAMPLES[0]]
    assert decoder.buffered == 5
    decoder.feed(second[5:])
    assert _drain(decoder) == [SAMPLES[1]]


# ---- every strict prefix needs more data -------------------------------------------------------


@pytest.mark.parametrize("frame", FRAMES, ids=_ids(SAMPLES))
def test_every_strict_prefix_is_incomplete(frame: bytes) -> None:
    """decode() of each strict prefix raises IncompleteFrame; a fresh Decoder answers NEED_DATA."""
    for k in range(len(frame)):
        with pytest.raises(IncompleteFrame):
            decode(frame[:k])
        decoder = Decoder()
        decoder.feed(frame[:k])
        assert decoder.next_message() is NEED_DATA, k


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


# ---- hypothesis ------------------------------------------------------------------------------

_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.text(alphabet="İıŞşĞğÇçÖöÜüƏəAaIi 0123456789-", max_size=200),  # noqa: RUF001
)

_WIRE_STRATEGIES: dict[int, st.SearchStrategy[Any]] = {
    id(U8): st.integers(0, 2**8 - 1),
    id(U16): st.integers(0, 2**16 - 1),
    id(U32): st.integers(0, 2**32 - 1),
    id(U64): st.integers(0, 2**64 - 1),
    id(I8): st.integers(-(2**7), 2**7 - 1),
    id(I16): st.integers(-(2**15), 2**15 - 1),
    id(I32): st.integers(-(2**31), 2**31 - 1),
    id(HASH16): st.binary(min_size=16, max_size=16),
    id(SHA256): st.binary(min_size=32, max_size=32),
    id(SIGNATURE): st.binary(min_size=64, max_size=64),
    id(STR): _TEXT,
    id(BLOB): st.binary(max_size=2000),
    id(BITMAP): st.binary(max_size=64),
    id(I32_LIST): st.lists(st.integers(-(2**31), 2**31 - 1), max_size=10).map(tuple),
    id(STR_LIST): st.lists(_TEXT, max_size=10).map(tuple),
    id(VERSION): st.builds(
        FirmwareVersion, st.integers(0, 255), st.integers(0, 255), st.integers(0, 65535)
    ),
}


def _field_strategy(py_type: Any, wire: WireType) -> st.SearchStrategy[Any]:
    if isinstance(py_type, type) and issubclass(py_type, IntEnum):
        return st.sampled_from(list(py_type))
    try:
        return _WIRE_STRATEGIES[id(wire)]
    except KeyError:
        raise AssertionError(f"no strategy for wire type {wire.name}: add one") from None


def message_strategy(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Any valid instance of `cls`, built from its wire layout."""
    hints = get_type_hints(cls, include_extras=True)
    fields = {name: _field_strategy(hints[name].__origin__, wire) for name, wire in layout(cls)}
    return st.builds(cls, **fields)


ANY_MESSAGE = st.one_of([message_strategy(cls) for cls in MESSAGE_TYPES.values()])
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(ANY_MESSAGE)
def test_property_round_trip(msg: Message) -> None:
    """For any valid message of any class, decode(encode(m)) == m."""
    assert decode(encode(msg)) == msg


@PROPERTY
@given(st.lists(ANY_MESSAGE, min_size=1, max_size=6), st.data())
def test_property_decoder_at_random_split_points(messages: list[Message], data: Any) -> None:
    """Concatenated frames fed in pieces cut at random points come out all, in order."""
    stream = b"".join(encode(m) for m in messages)
    cuts = sorted(
        data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="split points")
    )
    decoder = Decoder()
    out: list[Message] = []
    start = 0
    for end in [*cuts, len(stream)]:
        decoder.feed(stream[start:end])
        start = end
        out += _drain(decoder)
    assert out == messages
    assert decoder.buffered == 0


@PROPERTY
@given(ANY_MESSAGE, st.data())
def test_property_strict_prefix_is_incomplete(msg: Message, data: Any) -> None:
    """For any message, a random strict prefix of its frame is IncompleteFrame / NEED_DATA."""
    frame = encode(msg)
    k = data.draw(st.integers(0, len(frame) - 1), label="prefix length")
    with pytest.raises(IncompleteFrame):
        decode(frame[:k])
    decoder = Decoder()
    decoder.feed(frame[:k])
    assert decoder.next_message() is NEED_DATA
