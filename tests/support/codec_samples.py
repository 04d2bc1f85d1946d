"""Shared samples and helpers for test_codec tests (split by concern)."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from firmware_protocol import NEED_DATA, Decoder, encode
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
from firmware_protocol.models import ModelId
from firmware_protocol.wire import (
    FirmwareVersion,
)

# Dotless i (U+0131), dotted I (U+0130) on purpose: Turkish/Azerbaijani text must survive.
TURKISH = "İstanbul Iğdır ışık şeker ÇÖÜ; Azərbaycan Ələt"

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
