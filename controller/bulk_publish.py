"""Many messages published at once on one aiomqtt connection, their PUBACKs awaited together.

aiomqtt's `publish` costs a task, a timer, an event and a scan of every pending call per message,
and the caller's gather another task; paho then writes each packet with its own `send` (Nagle
is off on the controller's sockets, so each is a TCP segment the loopback delivers at once).
During a store-wide reprice that was the largest share of the controller's event loop (issue 14:
its publish path and its socket writes, ~40% of the loop's busy samples). Here the messages of a
batch are handed to paho (its public `publish`) in order, written with the socket corked
(`TCP_CORK`: the kernel sends the batch in full segments when it is uncorked) by paho's public
`loop_write`, and their acknowledgements are counted into one future:

- order: paho queues packets in call order and Mosquitto acknowledges QoS 1 in order
  (MQTT-4.6.0-2), so a label's Desired still goes before its chunks;
- acks: aiomqtt's `on_publish` calls `.set()` on what is registered under a message id; an
  `_Acks` registered under every id of the batch resolves its future at the last one;
- what `loop_write` cannot write now (a full socket buffer) stays queued in paho, whose write
  callback (registered by aiomqtt) sends it when the socket is writable, as for any publish; a
  registration that arrives after everything was written is removed (`_drop_stale_writer`);
- a batch whose acks do not all arrive within `timeout_s` raises `aiomqtt.MqttError` and its
  ids are unregistered, as aiomqtt does for a single publish; the caller publishes the batch
  again (QoS 1 is at least once; receivers are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho_mqtt


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to publish."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class _Acks:
    """Counts a batch's acknowledgements; aiomqtt's `on_publish` calls `set` once per id."""

    __slots__ = ("done", "left")

    def __init__(self, done: asyncio.Future[None], count: int) -> None:
        self.done = done
        self.left = count

    def set(self) -> None:
        self.left -= 1
        if self.left <= 0 and not self.done.done():
            self.done.set_result(None)


@contextlib.contextmanager
def _corked(sock: Any) -> Iterator[None]:
    """Hold partial segments while the batch is written; uncorking sends them (Linux)."""
    cork = getattr(socket, "TCP_CORK", None)
    if cork is None or sock is None:
        yield
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    except OSError:  # not TCP (a test's socket pair), or already closed: write uncorked
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, cork, 0)


def _drop_stale_writer(paho: paho_mqtt.Client, sock: Any) -> None:
    """Undo a write registration that came after its write.

    aiomqtt registers paho's writer on the event loop with `call_soon_threadsafe`, so the
    registration asked for by the batch's first publish runs after `loop_write` above has written
    everything and unregistered (at once). Left there, the writer would fire at every turn of the
    loop with nothing to write, and stay in the selector after the socket closed, where a new
    socket given the same descriptor cannot be registered. This runs after that registration
    (the loop's ready callbacks run in order) and removes it unless paho still has bytes to send
    (then the registration is the one paho wants)."""
    current = paho.socket()
    if current is not None and current is sock and not paho.want_write():
        asyncio.get_running_loop().remove_writer(current.fileno())


async def publish_batch(
    client: aiomqtt.Client, messages: Sequence[Outbound], timeout_s: float
) -> None:
    """Publish `messages` in order and return when the broker has acknowledged every QoS > 0
    one; raises `aiomqtt.MqttError` if one cannot be queued or the acks do not all come."""
    paho = client._client
    # aiomqtt's: id -> what its on_publish calls .set() on (an asyncio.Event there, ours here)
    pending: dict[int, Any] = client._pending_publishes
    acks = _Acks(asyncio.get_running_loop().create_future(), 0)
    mids: list[int] = []
    try:
        try:
            for message in messages:
                info = paho.publish(message.topic, message.payload, message.qos, message.retain)
                if info.rc != paho_mqtt.MQTT_ERR_SUCCESS:
                    raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
                if message.qos > 0 and not info.is_published():
                    pending[info.mid] = acks
                    mids.append(info.mid)
                    acks.left += 1
        finally:
            # Written now, with no await since the first publish: nothing is interleaved.
            if paho.want_write():
                sock = paho.socket()
                with _corked(sock):
                    paho.loop_write()
                asyncio.get_running_loop().call_soon(_drop_stale_writer, paho, sock)
        if mids:
            await asyncio.wait_for(acks.done, timeout_s)
    except TimeoutError:
        raise aiomqtt.MqttError("Operation timed out") from None
    finally:
        for mid in mids:
            if pending.get(mid) is acks:
                del pending[mid]
