"""Frame codec, sans-IO: bytes in, messages out; messages in, bytes out.

Frame (PROTOCOL.md §3):

    offset  size  field
    0       2     magic "OS" (0x4F 0x53)
    2       1     protocol version (1)
    3       1     opcode
    4       4     body length N, u32 big-endian
    8       N     body (the message fields in declaration order)
    8+N     4     CRC-32 (IEEE 802.3, as zlib.crc32) of bytes 0 .. 8+N-1

Over MQTT one PUBLISH carries exactly one frame (`decode`). Over a byte stream (an access
point's radio link, a UART) frames follow each other; feed the bytes to a `Decoder` and ask it
for messages until it answers NEED_DATA. After an error a Decoder stays failed: the stream has
lost sync and the link must be reset (h11's rule: no guessing past a corrupt frame).
"""

from __future__ import annotations

import struct
import zlib
from enum import Enum
from typing import Final

from firmware_protocol.errors import (
    BadMagic,
    ChecksumMismatch,
    FrameTooLarge,
    IncompleteFrame,
    MalformedBody,
    ProtocolError,
    TrailingData,
    UnknownOpcode,
    UnsupportedVersion,
)
from firmware_protocol.messages import MESSAGE_TYPES, Message, Opcode, layout

MAGIC: Final = b"OS"
VERSION: Final = 1
HEADER = struct.Struct(">2sBBI")
CRC = struct.Struct(">I")
HEADER_SIZE: Final = HEADER.size  # 8
OVERHEAD: Final = HEADER.size + CRC.size  # 12 bytes around every body
MAX_BODY: Final = 4 * 1024 * 1024


class NeedData(Enum):
    NEED_DATA = "need more data"


NEED_DATA: Final = NeedData.NEED_DATA


def encode_body(msg: Message) -> bytes:
    out = bytearray()
    for name, wire in layout(type(msg)):
        try:
            wire.encode(getattr(msg, name), out)
        except (ValueError, TypeError, AttributeError) as exc:
            # A wrongly typed or out-of-range field is the caller's protocol error.
            raise ProtocolError(f"{type(msg).__name__}.{name}: {exc}", opcode=msg.OPCODE) from exc
    return bytes(out)


def encode(msg: Message) -> bytes:
    """The complete frame of one message."""
    body = encode_body(msg)
    if len(body) > MAX_BODY:
        raise FrameTooLarge(f"body of {len(body)} bytes exceeds {MAX_BODY}", opcode=msg.OPCODE)
    head = HEADER.pack(MAGIC, VERSION, msg.OPCODE, len(body))
    crc = zlib.crc32(body, zlib.crc32(head))
    return head + body + CRC.pack(crc)


def decode_body(opcode: Opcode, body: bytes | memoryview) -> Message:
    cls = MESSAGE_TYPES[opcode]
    view = memoryview(body)
    values = {}
    offset = 0
    try:
        for name, wire in layout(cls):
            values[name], offset = wire.decode(view, offset)
    except MalformedBody as exc:
        exc.opcode = opcode
        raise
    if offset != len(view):
        raise MalformedBody(
            f"{cls.__name__} body has {len(view) - offset} unexpected trailing bytes",
            opcode=opcode,
            offset=offset,
        )
    return cls(**values)


def _check_header(buf: bytes | bytearray | memoryview) -> tuple[Opcode, int]:
    magic, version, opcode, length = HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise BadMagic(f"frame starts with {bytes(magic).hex()}, expected 4f53 ('OS')", offset=0)
    if version != VERSION:
        raise UnsupportedVersion(f"protocol version {version} is not supported (speak 1)")
    try:
        op = Opcode(opcode)
    except ValueError as exc:
        raise UnknownOpcode(f"opcode {opcode:#04x} is unknown", opcode=opcode) from exc
    if length > MAX_BODY:
        raise FrameTooLarge(f"declared body length {length} exceeds {MAX_BODY}", opcode=opcode)
    return op, length


def _check_crc(frame: memoryview, op: Opcode) -> None:
    (declared,) = CRC.unpack_from(frame, len(frame) - CRC.size)
    actual = zlib.crc32(frame[: len(frame) - CRC.size])
    if declared != actual:
        raise ChecksumMismatch(f"CRC-32 {declared:08x} declared, {actual:08x} computed", opcode=op)


def decode(frame: bytes | bytearray | memoryview) -> Message:
    """Exactly one frame (one MQTT payload) to its message."""
    view = memoryview(frame)
    if len(view) < HEADER_SIZE:
        raise IncompleteFrame(f"{len(view)} bytes is shorter than the 8-byte header")
    op, length = _check_header(view)
    total = HEADER_SIZE + length + CRC.size
    if len(view) < total:
        raise IncompleteFrame(f"frame declares {total} bytes, got {len(view)}", opcode=op)
    if len(view) > total:
        raise TrailingData(f"{len(view) - total} bytes after the frame", opcode=op, offset=total)
    _check_crc(view, op)
    return decode_body(op, view[HEADER_SIZE : HEADER_SIZE + length])


class Decoder:
    """Incremental decoder for a byte stream of frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._error: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_message(self) -> Message | NeedData:
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except ProtocolError as exc:
            self._error = exc
            raise

    def _next(self) -> Message | NeedData:
        if len(self._buffer) < HEADER_SIZE:
            # A wrong magic is reported as soon as its bytes arrive, not after a whole header.
            prefix = bytes(self._buffer[:2])
            if prefix and not MAGIC.startswith(prefix):
                raise BadMagic(f"stream starts with {prefix.hex()}, expected 4f53", offset=0)
            return NEED_DATA
        op, length = _check_header(self._buffer)
        total = HEADER_SIZE + length + CRC.size
        if len(self._buffer) < total:
            return NEED_DATA
        frame = bytes(self._buffer[:total])
        del self._buffer[:total]
        view = memoryview(frame)
        _check_crc(view, op)
        return decode_body(op, view[HEADER_SIZE : HEADER_SIZE + length])
