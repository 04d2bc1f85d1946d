"""The device link process: the controller's device session, run by a child process.

Started by `controller.device_link.process` as `python -m controller.device_link.worker FD`,
where FD is its end of a socket pair; the first frame brings the session's settings (its
password included: they never appear on a command line). It runs the same `MqttSession` the
controller would run, and:

- forwards what arrives in two lanes, each one batch at a time: the next batch of a lane
  (what arrived meanwhile, up to MAX_BATCH) goes once the controller says it handled the lane's
  last one. The urgent lane carries the channels the start frame names (fitting rooms'
  requests): a shopper's question does not wait behind a reprice's thousands of reports in the
  bulk lane. What the controller hands back
  ("requeue": a device it does not know yet) joins the bulk lane behind what arrived before it,
  its Birth included. A lane holds at most MAX_BUFFERED messages; past that the session stops
  reading, so a busy controller slows the link down instead of filling a buffer;
- publishes what the controller asks, in the order asked, and answers each request once the
  broker acknowledged all of its messages (the session retries on a new connection, as always);
- tells the controller when its connection comes up and goes down;
- sends its log records to the controller, which logs them with its own handlers.

It ends when the controller closes its end: at a stop, and also when the controller dies,
even by SIGKILL (the kernel closes a dead process's sockets), so it never outlives it. SIGINT
is ignored: a terminal's Ctrl-C reaches the whole process group, and the controller stops its
link itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading

from controller.bulk_publish import Outbound
from controller.device_link.frames import BULK, URGENT, FrameWriter, Wire, read_frame
from controller.link import Incoming, MqttSession, SessionConfig

log = logging.getLogger(__name__)


class _ToController(logging.Handler):
    """Log records go to the controller as frames (from the loop's thread, whoever logs)."""

    def __init__(self, frames: FrameWriter, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._frames = frames
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            frame = ("log", record.name, record.levelno, self.format(record))
        except Exception:  # noqa: BLE001 - a bad record must not stop the link
            self.handleError(record)
            return
        if threading.get_ident() == self._loop_thread:
            self._send(frame)
        else:
            self._loop.call_soon_threadsafe(self._send, frame)

    def _send(self, frame: tuple[str, str, int, str]) -> None:
        if not self._frames.is_closing():
            self._frames.write(frame)


MAX_BATCH = 500  # messages in one frame, as the in-process session's batches (controller/link.py)
MAX_BUFFERED = 20 * MAX_BATCH  # a lane's messages waiting for the controller


class _Lane:
    """Messages waiting for the controller, sent one batch at a time."""

    def __init__(self, name: str, frames: FrameWriter) -> None:
        self.name = name
        self._frames = frames
        self._waiting: list[Wire] = []
        self._free = asyncio.Event()  # the controller handled this lane's last batch
        self._free.set()
        self._filled = asyncio.Event()  # something is waiting
        self._room = asyncio.Event()  # fewer than MAX_BUFFERED are waiting
        self._room.set()

    def add(self, messages: list[Wire]) -> None:
        self._waiting += messages
        self._filled.set()
        if len(self._waiting) >= MAX_BUFFERED:
            self._room.clear()

    def handled(self) -> None:
        self._free.set()

    async def room(self) -> None:
        await self._room.wait()

    async def run(self) -> None:
        while True:
            await self._filled.wait()
            await self._free.wait()
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            if not self._waiting:
                self._filled.clear()
            if len(self._waiting) < MAX_BUFFERED:
                self._room.set()
            self._free.clear()
            self._frames.write(("messages", self.name, batch))


class Link:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        frames: FrameWriter,
        config: SessionConfig,
        subscriptions: dict[str, int],
        urgent_channels: frozenset[str] = frozenset(),
    ) -> None:
        self._reader = reader
        self._frames = frames
        self._urgent_channels = urgent_channels  # the last level of a topic (PROTOCOL.md §2)
        self._lanes = {name: _Lane(name, frames) for name in (BULK, URGENT)}
        self._publishing: set[asyncio.Task[None]] = set()
        self.session = MqttSession(
            config, subscriptions, self._forward, on_connection=self._connection
        )

    async def run(self) -> None:
        """Until the controller closes its end."""
        session = asyncio.create_task(self.session.run(), name="device-session")
        serving = asyncio.create_task(self._serve(), name="controller-frames")
        lanes = [
            asyncio.create_task(lane.run(), name=f"lane-{lane.name}")
            for lane in self._lanes.values()
        ]
        try:
            await asyncio.wait({session, serving}, return_when=asyncio.FIRST_COMPLETED)
            if session.done() and not session.cancelled() and session.exception() is not None:
                # A bug, not a lost connection (the session retries those): the controller
                # starts another link process.
                log.error("the device session failed", exc_info=session.exception())
        finally:
            for task in (session, serving, *lanes, *self._publishing):
                task.cancel()

    async def _serve(self) -> None:
        while True:
            try:
                frame = await read_frame(self._reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the controller stopped or died
            match frame:
                case ("publish", int(request), list(wire)):
                    task = asyncio.create_task(self._publish(request, wire))
                    self._publishing.add(task)
                    task.add_done_callback(self._publishing.discard)
                case ("more", str(lane)) if lane in self._lanes:
                    self._lanes[lane].handled()
                case ("requeue", list(wire)):
                    self._lanes[BULK].add(wire)
                case _:
                    log.error("unknown frame from the controller: %r", frame[0])

    async def _publish(self, request: int, wire: list[Wire]) -> None:
        # publish_all goes to paho before its first suspension while connected, so requests
        # are published in the order they arrived.
        await self.session.publish_all([Outbound(*message) for message in wire])
        self._frames.write(("published", request))

    async def _forward(self, batch: list[Incoming]) -> None:
        bulk: list[Wire] = []
        urgent: list[Wire] = []
        channels = self._urgent_channels
        for m in batch:
            to = urgent if channels and m.topic.rpartition("/")[2] in channels else bulk
            to.append((m.topic, m.payload, m.qos, m.retain))
        for name, messages in ((URGENT, urgent), (BULK, bulk)):
            if messages:
                self._lanes[name].add(messages)
        for lane in self._lanes.values():
            await lane.room()  # the session reads on once the controller has caught up

    def _connection(self, up: bool) -> None:
        self._frames.write(("up", self.session.connections) if up else ("down",))


async def serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    try:
        start = await read_frame(reader)
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    _, config, subscriptions, urgent_channels, level = start
    root = logging.getLogger()
    root.setLevel(level)
    frames = FrameWriter(writer)
    root.addHandler(_ToController(frames, asyncio.get_running_loop()))
    try:
        await Link(reader, frames, config, subscriptions, frozenset(urgent_channels)).run()
    finally:
        frames.flush()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()  # its last log records reach the controller


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: python -m controller.device_link.worker FD (started by the controller)")
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
