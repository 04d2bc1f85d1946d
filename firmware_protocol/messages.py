"""Protocol v1 messages: one frozen dataclass per opcode, fields in wire order.

Direction: "up" messages are published by devices (or by an access point on a label's behalf),
"down" messages by the controller. PROTOCOL.md gives the topic, QoS and retain flag of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Annotated, ClassVar, get_type_hints

from firmware_protocol.models import ModelId
from firmware_protocol.wire import (
    BITMAP,
    BLOB,
    HASH16,
    I8,
    I16,
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
    enum8,
    enum16,
)

NO_HASH = bytes(16)
"""The content hash of 'nothing displayed yet' (a blank or unknown panel)."""


class Opcode(IntEnum):
    # up: device -> controller
    BIRTH = 0x01
    DEATH = 0x02
    REPORTED = 0x03
    TELEMETRY = 0x04
    EVENT = 0x05
    XFER_REQUEST = 0x06
    COMMAND_RESULT = 0x07
    REQUEST = 0x08
    # down: controller -> device
    DESIRED = 0x20
    CHUNK = 0x21
    FIRMWARE_OFFER = 0x22
    LED_FLASH = 0x30
    PAGE_SWITCH = 0x31
    FAST_WAKE = 0x32
    PING = 0x33
    REBOOT = 0x34
    REBIRTH = 0x35
    RESPONSE = 0x40


class ReportResult(IntEnum):
    APPLIED = 0  # the revision was applied and is displayed
    UNCHANGED = 1  # an equal revision arrived: a no-op
    STALE_IGNORED = 2  # an older revision arrived and was ignored
    REFRESH_FAILED = 3  # the panel refresh failed; the previous image stays
    BOOT = 4  # sent once after (re)boot: what the device shows from its flash


class Encoding(IntEnum):
    FULL = 0  # payload is the bit planes
    DELTA_XOR = 1  # payload XOR base planes = new planes


class Compression(IntEnum):
    NONE = 0
    ZLIB = 1  # RFC 1950 stream


class XferReason(IntEnum):
    MISSING_CHUNKS = 0  # resume: send the chunks whose bit is set
    BASE_UNKNOWN = 1  # delta base != what I show: send a full frame
    INTEGRITY_FAILED = 2  # assembled payload failed CRC/hash: send again, full
    TOO_LARGE = 3  # does not fit my memory


class EventKind(IntEnum):
    ITEM_IN = 1  # fitting room: RFID tag entered
    ITEM_OUT = 2  # fitting room: RFID tag left
    HELP_REQUEST = 3
    HELP_CANCEL = 4
    BUTTON_PRESS = 5
    LANE_EMPTY = 6  # shelf sensor: a lane dropped below its empty threshold


class CommandStatus(IntEnum):
    OK = 0
    UNSUPPORTED = 1
    REFUSED = 2
    FAILED = 3
    DOWNGRADE_REFUSED = 4
    BAD_SIGNATURE = 5
    IN_PROGRESS = 6
    WRONG_MODEL = 7


class LedColour(IntEnum):
    RED = 1
    GREEN = 2
    BLUE = 3
    WHITE = 4


class LedPattern(IntEnum):
    SOLID = 0
    BLINK_SLOW = 1  # 1 Hz
    BLINK_FAST = 2  # 4 Hz
    DOUBLE = 3  # two short flashes every second


class RequestKind(IntEnum):
    STOCK_QUERY = 1  # subject = RFID EPC or GTIN: other sizes/colours in store and online
    STAFF_CALL = 2


class ResponseStatus(IntEnum):
    OK = 0
    NOT_FOUND = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every message; OPCODE ties a class to its frame opcode."""

    OPCODE: ClassVar[Opcode]


# ---- up ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Birth(Message):
    """Published at every (re)connect, retained; `session` increments each time (bdSeq)."""

    OPCODE: ClassVar[Opcode] = Opcode.BIRTH
    session: Annotated[int, U32]
    model: Annotated[ModelId, enum16(ModelId)]
    firmware: Annotated[FirmwareVersion, VERSION]
    max_packet: Annotated[int, U32]
    battery_mv: Annotated[int, U16]
    checkin_s: Annotated[int, U16]
    pages: Annotated[int, U8]
    displayed_revision: Annotated[int, U64]
    displayed_hash: Annotated[bytes, HASH16]
    shown_page: Annotated[int, U8]


@dataclass(frozen=True, slots=True)
class Death(Message):
    """The MQTT Will (retained): the session it ends; a Death for an older session is stale."""

    OPCODE: ClassVar[Opcode] = Opcode.DEATH
    session: Annotated[int, U32]


@dataclass(frozen=True, slots=True)
class Reported(Message):
    """What the device displays now (retained): the revision and hash of its image."""

    OPCODE: ClassVar[Opcode] = Opcode.REPORTED
    revision: Annotated[int, U64]
    content_hash: Annotated[bytes, HASH16]
    shown_page: Annotated[int, U8]
    result: Annotated[ReportResult, enum8(ReportResult)]


@dataclass(frozen=True, slots=True)
class Telemetry(Message):
    OPCODE: ClassVar[Opcode] = Opcode.TELEMETRY
    seq: Annotated[int, U32]
    battery_mv: Annotated[int, U16]
    rssi_dbm: Annotated[int, I8]
    temperature_dc: Annotated[int, I16]  # tenths of a degree Celsius
    lane_grams: Annotated[tuple[int, ...], I32_LIST] = ()


@dataclass(frozen=True, slots=True)
class Event(Message):
    """Something that happened; `event_id` increments per session so gaps and duplicates show."""

    OPCODE: ClassVar[Opcode] = Opcode.EVENT
    event_id: Annotated[int, U32]
    kind: Annotated[EventKind, enum8(EventKind)]
    subject: Annotated[str, STR]


@dataclass(frozen=True, slots=True)
class XferRequest(Message):
    """A receiver asks for (parts of) a transfer again; revision 0 means firmware."""

    OPCODE: ClassVar[Opcode] = Opcode.XFER_REQUEST
    revision: Annotated[int, U64]
    xfer_id: Annotated[int, U32]
    reason: Annotated[XferReason, enum8(XferReason)]
    have_hash: Annotated[bytes, HASH16]
    missing: Annotated[bytes, BITMAP]


@dataclass(frozen=True, slots=True)
class CommandResult(Message):
    OPCODE: ClassVar[Opcode] = Opcode.COMMAND_RESULT
    txn: Annotated[int, U32]
    status: Annotated[CommandStatus, enum8(CommandStatus)]
    detail: Annotated[str, STR] = ""


@dataclass(frozen=True, slots=True)
class Request(Message):
    OPCODE: ClassVar[Opcode] = Opcode.REQUEST
    txn: Annotated[int, U32]
    kind: Annotated[RequestKind, enum8(RequestKind)]
    subject: Annotated[str, STR]


# ---- down -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Desired(Message):
    """The image a device must show (retained), and how its bytes will travel.

    The first three fields are the state; the rest is the transfer offer. A device applies only
    a revision newer than the one it displays (an equal one is a no-op).
    """

    OPCODE: ClassVar[Opcode] = Opcode.DESIRED
    revision: Annotated[int, U64]
    content_hash: Annotated[bytes, HASH16]
    page: Annotated[int, U8]
    xfer_id: Annotated[int, U32]
    encoding: Annotated[Encoding, enum8(Encoding)]
    compression: Annotated[Compression, enum8(Compression)]
    base_hash: Annotated[bytes, HASH16]
    raw_size: Annotated[int, U32]
    payload_size: Annotated[int, U32]
    payload_crc: Annotated[int, U32]
    chunk_size: Annotated[int, U32]

    @property
    def chunk_count(self) -> int:
        return -(-self.payload_size // self.chunk_size) if self.chunk_size else 0


@dataclass(frozen=True, slots=True)
class Chunk(Message):
    OPCODE: ClassVar[Opcode] = Opcode.CHUNK
    xfer_id: Annotated[int, U32]
    index: Annotated[int, U16]
    data: Annotated[bytes, BLOB]


@dataclass(frozen=True, slots=True)
class FirmwareOffer(Message):
    """A signed firmware image; chunks follow as CHUNK messages with the same xfer_id."""

    OPCODE: ClassVar[Opcode] = Opcode.FIRMWARE_OFFER
    txn: Annotated[int, U32]
    xfer_id: Annotated[int, U32]
    model: Annotated[ModelId, enum16(ModelId)]
    version: Annotated[FirmwareVersion, VERSION]
    size: Annotated[int, U32]
    chunk_size: Annotated[int, U32]
    sha256: Annotated[bytes, SHA256]
    signature: Annotated[bytes, SIGNATURE]  # Ed25519 over firmware.signed_manifest()

    @property
    def chunk_count(self) -> int:
        return -(-self.size // self.chunk_size) if self.chunk_size else 0


@dataclass(frozen=True, slots=True)
class LedFlash(Message):
    OPCODE: ClassVar[Opcode] = Opcode.LED_FLASH
    txn: Annotated[int, U32]
    colour: Annotated[LedColour, enum8(LedColour)]
    pattern: Annotated[LedPattern, enum8(LedPattern)]
    duration_s: Annotated[int, U16]


@dataclass(frozen=True, slots=True)
class PageSwitch(Message):
    OPCODE: ClassVar[Opcode] = Opcode.PAGE_SWITCH
    txn: Annotated[int, U32]
    page: Annotated[int, U8]
    duration_s: Annotated[int, U16]  # 0: stay on that page


@dataclass(frozen=True, slots=True)
class FastWake(Message):
    """Check in every `interval_ms` instead of the normal interval, for `duration_s`."""

    OPCODE: ClassVar[Opcode] = Opcode.FAST_WAKE
    txn: Annotated[int, U32]
    duration_s: Annotated[int, U16]
    interval_ms: Annotated[int, U16]


@dataclass(frozen=True, slots=True)
class Ping(Message):
    OPCODE: ClassVar[Opcode] = Opcode.PING
    txn: Annotated[int, U32]


@dataclass(frozen=True, slots=True)
class Reboot(Message):
    OPCODE: ClassVar[Opcode] = Opcode.REBOOT
    txn: Annotated[int, U32]


@dataclass(frozen=True, slots=True)
class Rebirth(Message):
    """Publish a fresh Birth (the controller saw a sequence gap or has no state for you)."""

    OPCODE: ClassVar[Opcode] = Opcode.REBIRTH
    txn: Annotated[int, U32]


@dataclass(frozen=True, slots=True)
class Response(Message):
    OPCODE: ClassVar[Opcode] = Opcode.RESPONSE
    txn: Annotated[int, U32]
    status: Annotated[ResponseStatus, enum8(ResponseStatus)]
    lines: Annotated[tuple[str, ...], STR_LIST] = field(default=())


MESSAGE_TYPES: dict[Opcode, type[Message]] = {
    cls.OPCODE: cls
    for cls in (
        Birth,
        Death,
        Reported,
        Telemetry,
        Event,
        XferRequest,
        CommandResult,
        Request,
        Desired,
        Chunk,
        FirmwareOffer,
        LedFlash,
        PageSwitch,
        FastWake,
        Ping,
        Reboot,
        Rebirth,
        Response,
    )
}

UP_OPCODES = frozenset(op for op in Opcode if op < 0x20)
DOWN_OPCODES = frozenset(op for op in Opcode if op >= 0x20)


def layout(cls: type[Message]) -> tuple[tuple[str, WireType], ...]:
    """The (field name, wire type) pairs of a message class, in wire order."""
    return _LAYOUTS[cls]


def _layout_of(cls: type[Message]) -> tuple[tuple[str, WireType], ...]:
    hints = get_type_hints(cls, include_extras=True)
    result = []
    for f in fields(cls):
        wire = next(m for m in hints[f.name].__metadata__ if isinstance(m, WireType))
        result.append((f.name, wire))
    return tuple(result)


_LAYOUTS: dict[type[Message], tuple[tuple[str, WireType], ...]] = {
    cls: _layout_of(cls) for cls in MESSAGE_TYPES.values()
}
