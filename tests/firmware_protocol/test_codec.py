"""Codec round trips (example, byte-by-byte, hypothesis) and strict prefixes needing more data."""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum
from typing import Any, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_protocol import NEED_DATA, Decoder, decode, encode
from firmware_protocol.errors import (
    IncompleteFrame,
)
from firmware_protocol.messages import (
    MESSAGE_TYPES,
    Message,
    layout,
)
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
from tests.support.codec_samples import FRAMES, SAMPLES, _drain, _ids

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


# ---- hypothesis ------------------------------------------------------------------------------

_TEXT = st.one_of(
    # §3.2: no U+0000 anywhere and no leading U+FEFF (test_codec_errors checks they are refused)
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200).filter(
        lambda text: not text.startswith("\ufeff")
    ),
    st.text(alphabet="İıŞşĞğÇçÖöÜüƏəAaIi 0123456789-", max_size=200),
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
