"""The controller's side of the device link process: the device session's interface, with the
MQTT work in a child (controller/device_link/worker.py).

`DeviceLinkProcess` stands where an `MqttSession` would: `connected` (set while the child's
connection is up and subscribed), `connections`, `publish`, `publish_all` and `run`; incoming
messages go to the same handler, one batch at a time, in arrival order.

With an `urgent` handler, the channels it names come in a lane of their own
(controller/device_link/worker.py), handled beside the bulk lane: a fitting room's question is
not queued behind the batches of a reprice's reports. What the urgent handler
returns (messages it cannot handle yet, of a device it does not know) goes back to the child,
into the bulk lane, behind the messages that arrived before it (the device's Birth among them).

- A publish is a request to the child, answered once the broker acknowledged all of its
  messages. Requests are kept until answered: should the child die, its successor publishes
  every unanswered one again, in order (QoS 1 is at least once; receivers are idempotent).
- A handler's error stops `run` with that error, as it does the in-process session's. The
  handler outlives a child: a batch it is handling when its child dies is finished, even when it
  waits for a publish that only the next child can make (waiting for it first was a deadlock).
- The child is started by `run` and restarted (with a backoff) if it dies; it dies with the
  controller, even one killed by SIGKILL, because it ends when its socket's other end closes.
  A cancelled `run` closes the socket and waits for the child (SIGTERM, then SIGKILL).
- The child's log records are logged here, under their own logger names.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from broker_access.backoff import Backoff
from controller.bulk_publish import Outbound
from controller.device_link.frames import BULK, URGENT, FrameWriter, Wire, read_frame
from controller.link import Handler, Incoming, SessionConfig

log = logging.getLogger(__name__)

WORKER = "controller.device_link.worker"
STOP_TIMEOUT_S = 5.0
RESTART_CAP_S = 4.0  # as the session's own reconnects (controller/link.py)


# Handles a batch of the urgent lane; returns what it could not handle (to the bulk lane).
UrgentHandler = Callable[[list[Incoming]], Coroutine[Any, Any, list[Incoming]]]
Batches = asyncio.Queue[tuple[FrameWriter, list[Wire]]]


@dataclass(frozen=True, slots=True)
class Urgent:
    channels: frozenset[str]  # a topic's last level (firmware_protocol.topics.Channel values)
    handler: UrgentHandler


class DeviceLinkProcess:
    def __init__(
        self,
        config: SessionConfig,
        subscriptions: dict[str, int],
        handler: Handler,
        *,
        urgent: Urgent | None = None,
    ) -> None:
        self.config = config
        self._subscriptions = dict(subscriptions)
        self._handler = handler
        self._urgent = urgent
        self.connected = asyncio.Event()
        self.connections = 0
        self.starts = 0  # child processes started
        self.pid: int | None = None  # the running child's
        self._pending: dict[int, tuple[list[Wire], asyncio.Future[None]]] = {}
        self._requests = itertools.count()
        self._frames: FrameWriter | None = None
        self._backoff = Backoff(f"{config.client_id} link", cap_s=RESTART_CAP_S)

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        await self.publish_all([Outbound(topic, payload, qos, retain)])

    async def publish_all(self, messages: Sequence[Outbound]) -> None:
        """Publish in order; return when the broker has acknowledged them all."""
        if not messages:
            return
        request = next(self._requests)
        wire = [(m.topic, m.payload, m.qos, m.retain) for m in messages]
        done = asyncio.get_running_loop().create_future()
        self._pending[request] = (wire, done)
        try:
            if self._frames is not None:  # else: sent by the next child, with the others
                self._frames.write(("publish", request, wire))
            await done
        finally:
            self._pending.pop(request, None)

    async def run(self) -> None:
        # The handlers outlive a child: a batch being handled when its child dies is finished
        # (as in-process), even if it waits for a publish that only the next child can make.
        batches: dict[str, Batches] = {BULK: asyncio.Queue(), URGENT: asyncio.Queue()}
        handlers = [asyncio.create_task(self._handle(batches[BULK]), name="device-handler")]
        if self._urgent is not None:
            urgent = self._handle_urgent(batches[URGENT], self._urgent.handler)
            handlers.append(asyncio.create_task(urgent, name="device-urgent-handler"))
        handling = asyncio.ensure_future(_first_to_end(handlers))
        try:
            while True:
                await self._run_child(batches, handling)
                delay = self._backoff.next_delay()
                log.warning("device link process ended: starting another in %.1f s", delay)
                await asyncio.wait({handling}, timeout=delay)
                if handling.done():
                    handling.result()  # a handler's error
        finally:
            handling.cancel()
            for task in handlers:
                task.cancel()

    async def _run_child(self, batches: dict[str, Batches], handling: asyncio.Future[None]) -> None:
        """One child, until it ends (returns) or `run` is cancelled; a handler's error raises."""
        ours, theirs = socket.socketpair()
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER,
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.starts += 1
        self.pid = child.pid
        try:
            reader, writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:  # cancelled, say: the child is not left to end on its own
            ours.close()
            await _stop(child)
            self.pid = None
            raise
        frames = FrameWriter(writer)
        reading = asyncio.create_task(self._read(reader, frames, batches), name="device-link-read")
        try:
            level = logging.getLogger().getEffectiveLevel()
            channels = sorted(self._urgent.channels) if self._urgent is not None else []
            frames.write(("start", self.config, self._subscriptions, channels, level))
            for request, (wire, _) in sorted(self._pending.items()):
                frames.write(("publish", request, wire))
            self._frames = frames
            await asyncio.wait({reading, handling}, return_when=asyncio.FIRST_COMPLETED)
            if handling.done():
                handling.result()  # the handler's error
            reading.result()
        finally:
            self._frames = None
            self.connected.clear()
            reading.cancel()
            writer.close()
            await _stop(child)
            self.pid = None

    async def _read(
        self, reader: asyncio.StreamReader, frames: FrameWriter, batches: dict[str, Batches]
    ) -> None:
        """Frames until the child's end closes."""
        while True:
            try:
                frame = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except Exception:  # a frame that cannot be read: a bug; another child starts
                log.exception("a frame from the device link process could not be read")
                return
            match frame:
                case ("messages", str(lane), list(wire)) if lane in batches:
                    batches[lane].put_nowait((frames, wire))  # "more" to the child that sent it
                case ("published", int(request)):
                    pending = self._pending.get(request)
                    if pending is not None and not pending[1].done():
                        pending[1].set_result(None)
                case ("up", int(_)):
                    self.connections += 1
                    self._backoff.reset()
                    self.connected.set()
                case ("down",):
                    self.connected.clear()
                case ("log", str(name), int(level), str(text)):
                    logging.getLogger(name).log(level, "%s", text)
                case _:
                    log.error("unknown frame from the device link process: %r", frame[0])

    async def _handle(self, batches: Batches) -> None:
        while True:
            sender, wire = await batches.get()
            await self._handler([Incoming(*message) for message in wire])
            if not sender.is_closing():  # a child that ended has nothing more to send
                sender.write(("more", BULK))

    async def _handle_urgent(self, batches: Batches, handler: UrgentHandler) -> None:
        while True:
            sender, wire = await batches.get()
            later = await handler([Incoming(*message) for message in wire])
            if sender.is_closing():
                # That child's bulk lane is gone: its successor's subscription brings the
                # retained documents again; a request or a reading is asked or sent again.
                continue
            if later:
                sender.write(("requeue", [(m.topic, m.payload, m.qos, m.retain) for m in later]))
            sender.write(("more", URGENT))


async def _first_to_end(tasks: list[asyncio.Task[None]]) -> None:
    """Until one of the handlers ends (a handler ends only by an error), raising its error."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        task.result()


async def _stop(child: asyncio.subprocess.Process) -> None:
    """The child ends on its own once its socket closes; SIGTERM, then SIGKILL, if it does not."""
    for signal_it in (None, child.terminate, child.kill):
        if child.returncode is not None:
            return
        if signal_it is not None:
            with contextlib.suppress(ProcessLookupError):
                signal_it()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.wait(), STOP_TIMEOUT_S / 2)
