"""Field encodings used by the message layouts (all integers big-endian).

Each message field is declared as ``Annotated[python_type, WIRE_TYPE]``; the codec walks those
declarations, so the layout in the code and the tables in PROTOCOL.md describe the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from firmware_protocol.errors import MalformedBody


@dataclass(frozen=True, slots=True)
class FirmwareVersion:
    """major.minor.patch; ordered so that a device can refuse a downgrade."""

    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @classmethod
    def parse(cls, text: str) -> FirmwareVersion:
        parts = text.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"firmware version must be major.minor.patch, got {text!r}")
        major, minor, patch = (int(p) for p in parts)
        return cls(major, minor, patch)


class WireType:
    """How one field is laid out; `name` is the spelling used in PROTOCOL.md."""

    name: str = ""

    def encode(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def decode(self, buf: memoryview, offset: int) -> tuple[Any, int]:
        raise NotImplementedError


def _need(buf: memoryview, offset: int, size: int, what: str) -> None:
    if offset + size > len(buf):
        raise MalformedBody(
            f"body ends inside {what}: need {size} bytes at offset {offset}, "
            f"have {len(buf) - offset}",
            offset=offset,
        )


class _Struct(WireType):
    def __init__(self, name: str, fmt: str, check: Callable[[int], bool]):
        self.name = name
        self._struct = struct.Struct(">" + fmt)
        self._check = check

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, int) or not self._check(value):
            raise ValueError(f"{value!r} does not fit {self.name}")
        out += self._struct.pack(value)

    def decode(self, buf: memoryview, offset: int) -> tuple[Any, int]:
        _need(buf, offset, self._struct.size, self.name)
        (value,) = self._struct.unpack_from(buf, offset)
        return value, offset + self._struct.size


def _unsigned(bits: int) -> Callable[[int], bool]:
    return lambda v: 0 <= v < (1 << bits)


def _signed(bits: int) -> Callable[[int], bool]:
    return lambda v: -(1 << (bits - 1)) <= v < (1 << (bits - 1))


U8 = _Struct("u8", "B", _unsigned(8))
U16 = _Struct("u16", "H", _unsigned(16))
U32 = _Struct("u32", "I", _unsigned(32))
U64 = _Struct("u64", "Q", _unsigned(64))
I8 = _Struct("i8", "b", _signed(8))
I16 = _Struct("i16", "h", _signed(16))


class _Fixed(WireType):
    def __init__(self, size: int):
        self.size = size
        self.name = f"bytes[{size}]"

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, bytes | bytearray) or len(value) != self.size:
            raise ValueError(f"expected exactly {self.size} bytes, got {value!r}")
        out += value

    def decode(self, buf: memoryview, offset: int) -> tuple[Any, int]:
        _need(buf, offset, self.size, self.name)
        return bytes(buf[offset : offset + self.size]), offset + self.size


HASH16 = _Fixed(16)
SHA256 = _Fixed(32)
SIGNATURE = _Fixed(64)


class _Sized(WireType):
    """A length prefix (u8/u16/u32) followed by that many bytes."""

    def __init__(self, name: str, prefix: _Struct, *, text: bool):
        self.name = name
        self._prefix = prefix
        self._text = text

    def encode(self, value: Any, out: bytearray) -> None:
        if self._text and not isinstance(value, str):
            raise TypeError(f"{self.name} needs str, got {type(value).__name__}")
        if not self._text and not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{self.name} needs bytes, got {type(value).__name__}")
        if self._text:
            problem = _text_problem(value)
            if problem:
                raise ValueError(f"{self.name} {problem}; PROTOCOL.md §3.2 forbids it")
        raw = value.encode("utf-8") if self._text else bytes(value)
        self._prefix.encode(len(raw), out)
        out += raw

    def decode(self, buf: memoryview, offset: int) -> tuple[Any, int]:
        size, offset = self._prefix.decode(buf, offset)
        _need(buf, offset, size, self.name)
        raw = bytes(buf[offset : offset + size])
        if not self._text:
            return raw, offset + size
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody(f"{self.name} is not valid UTF-8", offset=offset) from exc
        problem = _text_problem(text)
        if problem:
            raise MalformedBody(f"{self.name} {problem}", offset=offset)
        return text, offset + size


def _text_problem(text: str) -> str:
    """Why a string may not travel (§3.2), or "": a NUL would end it early in a C device's
    buffer, and a leading BOM would make two spellings of the same text compare unequal."""
    if "\x00" in text:
        return f"contains U+0000 at character {text.index(chr(0))}"
    if text.startswith("\ufeff"):
        return "starts with U+FEFF (a byte order mark)"
    return ""


STR = _Sized("str", U16, text=True)  # u16 byte length + UTF-8
BLOB = _Sized("blob", U32, text=False)  # u32 length + bytes
BITMAP = _Sized("bitmap", U16, text=False)  # u16 length + bytes, bit i = byte i//8, mask 0x80>>i%8


class _List(WireType):
    """A u8 count followed by that many items of one type."""

    def __init__(self, item: WireType):
        self._item = item
        self.name = f"list[{item.name}]"

    def encode(self, value: Any, out: bytearray) -> None:
        items = tuple(value)
        U8.encode(len(items), out)
        for item in items:
            self._item.encode(item, out)

    def decode(self, buf: memoryview, offset: int) -> tuple[Any, int]:
        count, offset = U8.decode(buf, offset)
        items = []
        for _ in range(count):
            item, offset = self._item.decode(buf, offset)
            items.append(item)
        return tuple(items), offset


I32 = _Struct("i32", "i", _signed(32))
I32_LIST = _List(I32)
STR_LIST = _List(STR)


class _Enum(WireType):
    def __init__(self, enum: type[IntEnum], base: _Struct):
        self._enum = enum
        self._base = base
        self.name = f"{base.name} {enum.__name__}"

    def encode(self, value: Any, out: bytearray) -> None:
        self._base.encode(int(self._enum(value)), out)

    def decode(self, buf: memoryview, offset: int) -> tuple[Any, int]:
        raw, end = self._base.decode(buf, offset)
        try:
            return self._enum(raw), end
        except ValueError as exc:
            raise MalformedBody(
                f"{raw:#x} is not a valid {self._enum.__name__}", offset=offset
            ) from exc


def enum8(enum: type[IntEnum]) -> WireType:
    return _Enum(enum, U8)


def enum16(enum: type[IntEnum]) -> WireType:
    return _Enum(enum, U16)


class _Version(WireType):
    name = "version"  # u8 major, u8 minor, u16 patch

    def encode(self, value: Any, out: bytearray) -> None:
        U8.encode(value.major, out)
        U8.encode(value.minor, out)
        U16.encode(value.patch, out)

    def decode(self, buf: memoryview, offset: int) -> tuple[Any, int]:
        major, offset = U8.decode(buf, offset)
        minor, offset = U8.decode(buf, offset)
        patch, offset = U16.decode(buf, offset)
        return FirmwareVersion(major, minor, patch), offset


VERSION = _Version()
