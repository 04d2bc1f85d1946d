"""The one exception family of the protocol codec.

Every error names what was wrong and where, so that a device log or a dead-letter message says
exactly why a frame was refused.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A frame or message that does not follow PROTOCOL.md v1."""

    def __init__(self, message: str, *, opcode: int | None = None, offset: int | None = None):
        super().__init__(message)
        self.opcode = opcode
        self.offset = offset


class IncompleteFrame(ProtocolError):
    """A whole frame was expected but the bytes end early."""


class BadMagic(ProtocolError):
    """The frame does not start with the two bytes 'OS'."""


class UnsupportedVersion(ProtocolError):
    """The frame's protocol version is not one this codec speaks."""


class UnknownOpcode(ProtocolError):
    """The opcode byte names no message of this version."""


class FrameTooLarge(ProtocolError):
    """The declared body length exceeds the codec's limit."""


class ChecksumMismatch(ProtocolError):
    """The frame's CRC-32 does not match its bytes: corrupted in transit."""


class MalformedBody(ProtocolError):
    """The body does not match the message layout (too short, too long, bad value)."""


class TrailingData(ProtocolError):
    """Bytes follow the frame where exactly one frame was expected."""


class IntegrityError(ProtocolError):
    """An assembled image or firmware does not match its declared CRC or content hash."""


class TransferError(ProtocolError):
    """An image or firmware transfer cannot be built or applied as asked."""
