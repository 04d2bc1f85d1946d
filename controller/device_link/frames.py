"""Frames between the controller and its device link process: a 4-byte length, then a pickle.

Pickle, because both ends are this program and the channel is a socket pair that no one else
holds (never a network socket). Messages travel as tuples, the cheapest thing to pickle.

controller -> link:
- ("start", SessionConfig, subscriptions, urgent channels, log level): once, first;
- ("publish", request id, [(topic, payload, qos, retain), ...]): publish in order, answer when
  the broker has acknowledged them all;
- ("more", lane): the lane's last batch of messages was handled, send its next one;
- ("requeue", [(topic, payload, qos, retain), ...]): urgent messages the controller could not
  handle yet (a device it does not know): into the bulk lane, behind what arrived before them.

link -> controller:
- ("up", connection number) / ("down",): the session's connection came up or ended;
- ("messages", lane, [(topic, payload, qos, retain), ...]): what arrived on the lane's channels,
  one batch at a time per lane ("bulk" or "urgent");
- ("published", request id);
- ("log", logger name, level, text): the link's log records, logged by the controller.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_LENGTH = struct.Struct(">I")
MAX_FRAME = 256 * 2**20  # a batch of 500 messages of at most 256 KB each fits; more is a bug

Wire = tuple[str, bytes, int, bool]  # topic, payload, qos, retain
BULK = "bulk"  # the lanes of incoming messages (controller/device_link/worker.py)
URGENT = "urgent"


class FrameWriter:
    """Writes frames; those written during one turn of the event loop go in one `send` at its
    end (a frame a syscall cost the controller's loop 14% of its busy time in a reprice)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._parts: list[bytes] = []

    def write(self, frame: tuple[Any, ...]) -> None:
        data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        if not self._parts:
            asyncio.get_running_loop().call_soon(self.flush)
        self._parts += (_LENGTH.pack(len(data)), data)

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self._writer.is_closing():
            self._writer.writelines(parts)

    async def drain(self) -> None:
        """Until what was written is in the socket, or mostly (the stream's own flow control)."""
        self.flush()
        await self._writer.drain()

    def is_closing(self) -> bool:
        return self._writer.is_closing()


async def read_frame(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    """The next frame; asyncio.IncompleteReadError when the other end has closed."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_FRAME:
        raise ValueError(f"a frame of {length} bytes from the other end: over {MAX_FRAME}")
    frame = pickle.loads(await reader.readexactly(length))  # noqa: S301 - our own child's
    if not isinstance(frame, tuple) or not frame:
        raise ValueError(f"not a frame: {type(frame).__name__}")
    return frame
