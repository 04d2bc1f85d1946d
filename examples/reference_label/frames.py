"""Frames of the omnishelf device protocol v1 for a label, written from PROTOCOL.md alone.

This is the reference label's codec (§3 frame, §4 messages). It deliberately imports nothing
from the omnishelf packages: it exists to show that the document is enough to build a device.
A label only needs to *encode* the up messages it sends and *decode* the down messages it gets.

Every check of §3.5 is here, in the document's order; a failed check raises FrameError whose
`condition` is the document's name for it (`BadMagic`, `ChecksumMismatch`, ...) for the log.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"OS"
VERSION = 1
MAX_BODY = 4 * 1024 * 1024  # §3.1: at most 4 MiB
NO_HASH = bytes(16)  # §3.2

# §2.4: the channel of every opcode; opcodes below 0x20 travel up, the others down.
UP_CHANNELS = {
    0x01: "birth",
    0x02: "death",
    0x03: "reported",
    0x04: "telemetry",
    0x05: "event",
    0x06: "xfer",
    0x07: "result",
    0x08: "request",
}
DOWN_CHANNELS = {
    0x20: "desired",
    0x21: "chunk",
    0x22: "cmd",
    0x30: "cmd",
    0x31: "cmd",
    0x32: "cmd",
    0x33: "cmd",
    0x34: "cmd",
    0x35: "cmd",
    0x40: "response",
}
# §2.4: QoS and retain flag of each up opcode.
UP_DELIVERY = {
    0x01: (1, True),
    0x02: (1, True),
    0x03: (1, True),
    0x04: (0, False),
    0x05: (1, False),
    0x06: (1, False),
    0x07: (1, False),
    0x08: (1, False),
}

# §4.3: every ModelId; a label's frame bytes follow from its width, height and palette.
MODELS = {
    "EPD154_BW": 0x0101,
    "EPD154_BWR": 0x0102,
    "EPD154_BWY": 0x0103,
    "EPD213_BW": 0x0111,
    "EPD213_BWR": 0x0112,
    "EPD213_BWY": 0x0113,
    "EPD290_BW": 0x0121,
    "EPD290_BWR": 0x0122,
    "EPD290_BWY": 0x0123,
    "EPD420_BW": 0x0131,
    "EPD420_BWR": 0x0132,
    "EPD420_BWY": 0x0133,
    "EPD750_BW": 0x0141,
    "EPD750_BWR": 0x0142,
    "EPD750_BWY": 0x0143,
    "SHELF_SENSOR_4": 0x0201,
    "SHELF_SENSOR_8": 0x0202,
    "FITTING_ROOM_DISPLAY": 0x0301,
    "ACCESS_POINT": 0x0401,
}
# The panel size nibble of a label's ModelId (§4.3): width x height.
_PANEL_BY_NIBBLE = {
    0x0: (152, 152),
    0x1: (250, 122),
    0x2: (296, 128),
    0x3: (400, 300),
    0x4: (800, 480),
}


def frame_bytes(model_id: int) -> int:
    """§4.3/§5.1: ceil(width / 8) x height per plane, one plane for BW, two otherwise."""
    if model_id >> 8 != 1:
        raise ValueError(f"model 0x{model_id:04x} is not a label")
    width, height = _PANEL_BY_NIBBLE[(model_id >> 4) & 0xF]
    planes = 1 if model_id & 0xF == 1 else 2
    return (width + 7) // 8 * height * planes


# §4.2 enumerations this label reads or writes.
ENCODINGS = {0, 1}  # FULL, DELTA_XOR
COMPRESSIONS = {0, 1}  # NONE, ZLIB
LED_COLOURS = {1, 2, 3, 4}
LED_PATTERNS = {0, 1, 2, 3}
RESPONSE_STATUSES = {0, 1, 2}
APPLIED, UNCHANGED, STALE_IGNORED, REFRESH_FAILED, BOOT = 0, 1, 2, 3, 4
MISSING_CHUNKS, BASE_UNKNOWN, INTEGRITY_FAILED, TOO_LARGE = 0, 1, 2, 3
OK, UNSUPPORTED, REFUSED, FAILED, DOWNGRADE_REFUSED = 0, 1, 2, 3, 4
BAD_SIGNATURE, IN_PROGRESS, WRONG_MODEL = 5, 6, 7
BUTTON_PRESS = 5


class FrameError(Exception):
    """A frame failed a §3.5 check; `condition` is the document's name for the failure."""

    def __init__(self, condition: str, detail: str) -> None:
        super().__init__(f"{condition}: {detail}")
        self.condition = condition


# ----------------------------------------------------------------------------- down messages


@dataclass(frozen=True, slots=True)
class Desired:  # §4.5
    revision: int
    content_hash: bytes
    page: int
    xfer_id: int
    encoding: int
    compression: int
    base_hash: bytes
    raw_size: int
    payload_size: int
    payload_crc: int
    chunk_size: int


@dataclass(frozen=True, slots=True)
class Chunk:
    xfer_id: int
    index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FirmwareOffer:
    txn: int
    xfer_id: int
    model: int
    version: tuple[int, int, int]
    size: int
    chunk_size: int
    sha256: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Command:
    """LedFlash, PageSwitch, FastWake, Ping, Reboot, Rebirth: a txn and up to three numbers."""

    opcode: int
    txn: int
    args: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Response:
    txn: int
    status: int
    lines: tuple[str, ...]


DownMessage = Desired | Chunk | FirmwareOffer | Command | Response


class _Body:
    """Reads the fields of §3.2 from a body; any shortfall or leftover is MalformedBody."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise FrameError("MalformedBody", "body too short")
        piece = self.data[self.at : self.at + n]
        self.at += n
        return piece

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def enum(self, size: int, allowed: set[int] | frozenset[int], name: str) -> int:
        value = self.uint(size)
        if value not in allowed:
            raise FrameError("MalformedBody", f"{name} {value} is not a listed value")
        return value

    def text(self) -> str:
        raw = self.take(self.uint(2))
        try:
            value = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise FrameError("MalformedBody", "string is not strict UTF-8") from exc
        if "\x00" in value or value.startswith("\ufeff"):  # §3.2: no terminator, no BOM
            raise FrameError("MalformedBody", "string holds U+0000 or starts with a BOM")
        return value

    def end(self) -> None:
        if self.at != len(self.data):
            raise FrameError("MalformedBody", f"{len(self.data) - self.at} bytes after last field")


def _decode_body(opcode: int, body: bytes) -> DownMessage:
    b = _Body(body)
    message: DownMessage
    if opcode == 0x20:
        message = Desired(
            revision=b.uint(8),
            content_hash=b.take(16),
            page=b.uint(1),
            xfer_id=b.uint(4),
            encoding=b.enum(1, ENCODINGS, "encoding"),
            compression=b.enum(1, COMPRESSIONS, "compression"),
            base_hash=b.take(16),
            raw_size=b.uint(4),
            payload_size=b.uint(4),
            payload_crc=b.uint(4),
            chunk_size=b.uint(4),
        )
    elif opcode == 0x21:
        message = Chunk(xfer_id=b.uint(4), index=b.uint(2), data=b.take(b.uint(4)))
    elif opcode == 0x22:
        message = FirmwareOffer(
            txn=b.uint(4),
            xfer_id=b.uint(4),
            model=b.enum(2, set(MODELS.values()), "model"),
            version=(b.uint(1), b.uint(1), b.uint(2)),
            size=b.uint(4),
            chunk_size=b.uint(4),
            sha256=b.take(32),
            signature=b.take(64),
        )
    elif opcode == 0x30:  # LedFlash: colour, pattern, duration_s
        txn = b.uint(4)
        colour = b.enum(1, LED_COLOURS, "colour")
        message = Command(opcode, txn, (colour, b.enum(1, LED_PATTERNS, "pattern"), b.uint(2)))
    elif opcode == 0x31:  # PageSwitch: page, duration_s
        message = Command(opcode, b.uint(4), (b.uint(1), b.uint(2)))
    elif opcode == 0x32:  # FastWake: duration_s, interval_ms
        message = Command(opcode, b.uint(4), (b.uint(2), b.uint(2)))
    elif opcode in (0x33, 0x34, 0x35):  # Ping, Reboot, Rebirth
        message = Command(opcode, b.uint(4))
    else:  # 0x40 Response
        txn = b.uint(4)
        status = b.enum(1, RESPONSE_STATUSES, "status")
        message = Response(txn, status, tuple(b.text() for _ in range(b.uint(1))))
    b.end()
    return message


def decode_down(payload: bytes, channel: str, *, check_crc: bool = True) -> DownMessage:
    """One MQTT payload -> one down message, or FrameError (§3.5 order; §2.4 channel check)."""
    if len(payload) < 8:
        raise FrameError("IncompleteFrame", f"{len(payload)} bytes, a header is 8")
    if payload[:2] != MAGIC:
        raise FrameError("BadMagic", payload[:2].hex())
    if payload[2] != VERSION:
        raise FrameError("UnsupportedVersion", str(payload[2]))
    opcode = payload[3]
    if opcode not in DOWN_CHANNELS and opcode not in UP_CHANNELS:
        raise FrameError("UnknownOpcode", f"0x{opcode:02x}")
    (length,) = struct.unpack_from(">I", payload, 4)
    if length > MAX_BODY:
        raise FrameError("FrameTooLarge", f"body of {length} bytes")
    if len(payload) < length + 12:
        raise FrameError("IncompleteFrame", f"{len(payload)} bytes of {length + 12}")
    if len(payload) > length + 12:
        raise FrameError("TrailingData", f"{len(payload) - length - 12} bytes after the frame")
    (crc,) = struct.unpack_from(">I", payload, 8 + length)
    if check_crc and zlib.crc32(payload[: 8 + length]) != crc:
        raise FrameError("ChecksumMismatch", f"stored 0x{crc:08x}")
    if DOWN_CHANNELS.get(opcode) != channel:  # §2.4: wrong channel or direction
        raise FrameError("WrongChannel", f"opcode 0x{opcode:02x} on channel {channel!r}")
    return _decode_body(opcode, payload[8 : 8 + length])


# ------------------------------------------------------------------------------- up messages


def frame(opcode: int, body: bytes) -> bytes:
    """§3.1: header, body, CRC-32 of both."""
    head = MAGIC + bytes([VERSION, opcode]) + struct.pack(">I", len(body))
    return head + body + struct.pack(">I", zlib.crc32(head + body))


def _text(value: str) -> bytes:
    if "\x00" in value or value.startswith("\ufeff"):
        raise ValueError("§3.2: no terminator, no BOM")
    raw = value.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def birth(  # noqa: PLR0917 - the fields of §4.4, in order
    session: int,
    model: int,
    firmware: tuple[int, int, int],
    max_packet: int,
    battery_mv: int,
    checkin_s: int,
    pages: int,
    revision: int,
    content_hash: bytes,
    shown_page: int,
) -> bytes:
    body = struct.pack(">IHBBHIHHBQ", session, model, *firmware, max_packet, battery_mv,
                       checkin_s, pages, revision)  # fmt: skip
    return frame(0x01, body + content_hash + bytes([shown_page]))


def death(session: int) -> bytes:
    return frame(0x02, struct.pack(">I", session))


def reported(revision: int, content_hash: bytes, shown_page: int, result: int) -> bytes:
    return frame(0x03, struct.pack(">Q", revision) + content_hash + bytes([shown_page, result]))


def telemetry(seq: int, battery_mv: int, rssi_dbm: int, temperature_dc: int) -> bytes:
    return frame(0x04, struct.pack(">IHbhB", seq, battery_mv, rssi_dbm, temperature_dc, 0))


def event(event_id: int, kind: int, subject: str) -> bytes:
    return frame(0x05, struct.pack(">IB", event_id, kind) + _text(subject))


def xfer_request(
    revision: int, xfer_id: int, reason: int, have_hash: bytes, missing: bytes
) -> bytes:
    head = struct.pack(">QIB", revision, xfer_id, reason)
    return frame(0x06, head + have_hash + struct.pack(">H", len(missing)) + missing)


def command_result(txn: int, status: int, detail: str = "") -> bytes:
    return frame(0x07, struct.pack(">IB", txn, status) + _text(detail))


def missing_bitmap(chunk_count: int, have: set[int] | dict[int, bytes]) -> bytes:
    """§3.2 bitmap, §5.6: bit i (MSB first) set for each missing chunk, ceil(count / 8) bytes."""
    bitmap = bytearray((chunk_count + 7) // 8)
    for i in range(chunk_count):
        if i not in have:
            bitmap[i // 8] |= 0x80 >> (i % 8)
    return bytes(bitmap)
