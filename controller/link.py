"""The controller's only MQTT module: connections to the store broker, over aiomqtt.

Two sessions, because they need different guarantees:
- the **device session** (clean): everything devices publish in the store. State documents are
  retained (births, deaths, reports), so a reconnect re-reads the current state of every device
  on SUBSCRIBE; nothing needs to be held for the controller meanwhile.
- the **catalog session** (persistent, manual acknowledgement): HQ's changes. A change is
  acknowledged (PUBACK) only after it is stored durably; a controller that dies before that never
  acknowledged it, and Mosquitto redelivers it to the persistent session at the next connect
  (MQTT-4.4.0-1). aiomqtt 2.x has no manual acknowledgement in its public API, so this module
  switches paho's (`manual_ack_set`, paho-mqtt >= 2.0) on the client aiomqtt wraps. PUBACKs go out
  in the order the messages arrived (MQTT-4.6.0-2), because they are handled one at a time.

Subscriptions are a desired set, reconciled at every connect. Incoming messages go to one handler
per session, in batches of what has already arrived (a store's births after a restart come in
thousands; one database transaction per batch instead of per message); the runtime's routing
table decides what each topic means. Reconnects back off exponentially with jitter, capped, and
start over after a good connection (`broker_access.backoff`).

`connected` belongs to `run`: set once a connection is up and subscribed, cleared when that
connection ends, never by a publish. A publish that fails (its PUBACK timed out, say, because the
broker died while it waited) retries; when it fails on a connection already replaced, clearing
`connected` would stop every later publish on the new, healthy one (issue 12, finding 9).

A cancel is never lost. On Python 3.11 aiomqtt's wait for an ack (`asyncio.wait_for`) returns
instead of raising when the ack and a cancel arrive together, and a TaskGroup ending because of
an error raises the error instead of a cancel that met it; a TaskGroup cancels its tasks once
only, so a lost cancel left a stopping controller waiting forever. `publish`, the subscribes and
the reconnect loop compare their task's cancel requests with those at their start
(`_raise_if_cancelled`) and raise the one asyncio dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt

from broker_access.address import BrokerAddress
from broker_access.backoff import STABLE_AFTER_S, Backoff
from broker_access.sockets import disable_nagle
from controller.bulk_publish import Outbound, publish_batch

log = logging.getLogger(__name__)

# The controller is one client of its own store's broker: after an outage it must be back within
# seconds (its labels wait for it), and a retry every few seconds costs that broker nothing. The
# default cap (30 s, for thousands of devices) kept it away 26 s after a 43 s outage ended.
RECONNECT_CAP_S = 4.0

PUBLISH_RETRY_S = 0.1


def _cancel_requests() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _raise_if_cancelled(before: int) -> None:
    """Raise a cancel asked for since `before` (the task's count then) that asyncio dropped."""
    if _cancel_requests() > before:
        raise asyncio.CancelledError


class Publisher(Protocol):
    """What the rest of the controller needs from MQTT: publish and wait for the broker's ack."""

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None: ...

    async def publish_all(self, messages: Sequence[Outbound]) -> None:
        """Publish in order; return when the broker has acknowledged them all."""
        ...


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    qos: int
    retain: bool


Handler = Callable[[list[Incoming]], Coroutine[Any, Any, None]]
MAX_BATCH = 500
PENDING_CALLS_WARNING = 10_000  # publishes awaiting their ack before aiomqtt warns


@dataclass(frozen=True, slots=True)
class SessionConfig:
    broker: BrokerAddress
    client_id: str
    username: str
    password: str
    persistent: bool = False  # keep the session (and its unacknowledged messages) across connects
    manual_ack: bool = False  # acknowledge after the handler returned, not on arrival
    keepalive: int = 30
    # paho's window of unacknowledged QoS 1 publishes; 0: none (paho then skips its rescan of
    # every held message at each PUBACK), for a session whose callers bound their own.
    max_inflight: int = 200
    concurrency: int = 1  # handler calls under way at once; acknowledged in arrival order
    timeout_s: float = 10.0  # a publish or subscribe without its ack by then fails (aiomqtt's)
    stable_after_s: float = STABLE_AFTER_S  # a connection this long resets the backoff


class MqttSession:
    """One connection, kept up until cancelled; `publish` waits for it to be connected."""

    def __init__(
        self,
        config: SessionConfig,
        subscriptions: dict[str, int],
        handler: Handler,
        *,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self.config = config
        self._on_connection = on_connection  # told each time a connection is up (True) or ends
        self._subscriptions = dict(subscriptions)
        self._handler = handler
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self.backoff = Backoff(
            config.client_id, cap_s=RECONNECT_CAP_S, stable_after_s=config.stable_after_s
        )
        self._connected_at: float | None = None

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        cancels = _cancel_requests()
        while True:
            await self.connected.wait()
            client = self._client
            if client is None:
                continue
            try:
                await client.publish(topic, payload, qos=qos, retain=retain)
            except aiomqtt.MqttError as exc:
                # Not ours to clear `connected`: if this connection is dead, `run` notices and
                # clears it; if it was replaced, the new one is fine. Either way: again (QoS 1
                # is at least once; receivers are idempotent).
                stale = "an earlier" if client is not self._client else "the current"
                log.info(
                    "%s: publish to %s failed on %s connection: %s",
                    self.config.client_id,
                    topic,
                    stale,
                    exc,
                )
                await asyncio.sleep(PUBLISH_RETRY_S)
            else:
                _raise_if_cancelled(cancels)  # one that met the PUBACK
                return

    async def publish_all(self, messages: Sequence[Outbound]) -> None:
        """`publish` for many messages at once (controller/bulk_publish.py): in order on one
        connection, their acks awaited together; all of them again on a failure."""
        cancels = _cancel_requests()
        while messages:
            await self.connected.wait()
            client = self._client
            if client is None:
                continue
            try:
                await publish_batch(client, messages, self.config.timeout_s)
            except aiomqtt.MqttError as exc:
                stale = "an earlier" if client is not self._client else "the current"
                log.info(
                    "%s: publishing %d messages failed on %s connection: %s",
                    self.config.client_id,
                    len(messages),
                    stale,
                    exc,
                )
                await asyncio.sleep(PUBLISH_RETRY_S)
            else:
                _raise_if_cancelled(cancels)  # one that met the last PUBACK
                return

    async def run(self) -> None:
        backoff = self.backoff
        while True:
            self._connected_at = None
            cancels = _cancel_requests()
            try:
                await self._connected_session(cancels)
            except* aiomqtt.MqttError as lost:  # raised alone, or by the handlers' TaskGroup
                log.warning("%s: connection lost: %s", self.config.client_id, lost.exceptions[0])
            finally:
                was_up = self.connected.is_set()
                self.connected.clear()
                self._client = None
                if was_up and self._on_connection is not None:
                    self._on_connection(False)
            _raise_if_cancelled(cancels)  # one the handlers' TaskGroup dropped for its error
            lasted = None if self._connected_at is None else time.monotonic() - self._connected_at
            backoff.connection_ended(lasted)
            await asyncio.sleep(backoff.next_delay())

    def _new_client(self) -> aiomqtt.Client:
        c = self.config
        client = aiomqtt.Client(
            c.broker.host,
            c.broker.port,
            identifier=c.client_id,
            username=c.username,
            password=c.password,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=not c.persistent,
            keepalive=c.keepalive,
            max_inflight_messages=c.max_inflight,
            timeout=c.timeout_s,
            tls_context=c.broker.tls_context(),
        )
        # Many publishes await their PUBACK at once by design (the push stage's senders): aiomqtt
        # would log a warning for each one above 10, which cost a quarter of a reprice's CPU.
        client.pending_calls_threshold = PENDING_CALLS_WARNING
        if c.manual_ack:
            client._client.manual_ack_set(True)
        return client

    async def _connected_session(self, cancels: int) -> None:
        async with self._new_client() as client:
            disable_nagle(client._client.socket())
            for topic, qos in self._subscriptions.items():
                await client.subscribe(topic, qos=qos)
                _raise_if_cancelled(cancels)  # one that met the SUBACK
            self._client = client
            self._connected_at = time.monotonic()
            self.connections += 1
            self.connected.set()
            log.info("%s: connected (%d)", self.config.client_id, self.connections)
            if self._on_connection is not None:
                self._on_connection(True)
            if self.config.concurrency > 1:
                await self._handle_concurrently(client)
            while True:
                batch = await self._next_batch(client)
                await self._handler([_incoming(m) for m in batch])
                self._ack(client, batch)

    async def _next_batch(self, client: aiomqtt.Client) -> list[aiomqtt.Message]:
        """The next message and every other one already received."""
        messages = client.messages
        batch = [await anext(messages)]
        while len(messages) and len(batch) < MAX_BATCH:
            batch.append(await anext(messages))  # already queued: no wait
        return batch

    def _ack(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        if self.config.manual_ack:
            for message in batch:  # in arrival order (MQTT-4.6.0-2)
                if message.qos > 0:
                    client._client.ack(message.mid, message.qos)

    async def _handle_concurrently(self, client: aiomqtt.Client) -> None:
        """Up to `concurrency` handler calls at once; each batch is acknowledged when its
        handler and those of every earlier batch have returned (arrival order)."""
        handled: asyncio.Queue[tuple[asyncio.Task[None], list[aiomqtt.Message]]]
        handled = asyncio.Queue(maxsize=self.config.concurrency - 1)

        async def acknowledge() -> None:
            while True:
                task, batch = await handled.get()
                await task
                self._ack(client, batch)

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(acknowledge(), name=f"{self.config.client_id}-ack")
            while True:
                batch = await self._next_batch(client)
                handling = tasks.create_task(
                    self._handler([_incoming(m) for m in batch]),
                    name=f"{self.config.client_id}-handler",
                )
                await handled.put((handling, batch))


def _incoming(message: aiomqtt.Message) -> Incoming:
    payload = message.payload
    return Incoming(
        message.topic.value,
        bytes(payload) if isinstance(payload, bytes | bytearray) else b"",
        message.qos,
        message.retain,
    )
