"""The simulator's only network module: each gateway over its own aiomqtt connection.

Devices speak MQTT 3.1.1 (PROTOCOL.md §1). Per connection: one task receives and hands frames
to the gateway, one runs its timers (wakes, refreshes), a few publish so that QoS 1 acks
overlap. A lost connection is retried with capped, jittered exponential backoff that starts over
after a good connection (`broker_access.backoff`); the Will is the gateway's Death with the
session the next connection will announce. Over TLS when the broker address says `mqtts://`.

Cancelling a link ends it, whatever the cancel meets. Python 3.11 loses a cancel in two places
this module runs into: `asyncio.wait_for` (aiomqtt's publish and subscribe wait for their ack
with it) returns the result instead of raising when the ack and the cancel arrive together, and a
TaskGroup already shutting down because of an error raises that error instead of the cancel. A
TaskGroup passes a cancel on to its tasks once only, so a lost one is never repeated: the link
went on (reconnecting, or waiting for its next message), and the simulator and a test's teardown
waited for it forever (make test hung in a teardown after a direct label's new session). So:
the session's tasks never fail into their TaskGroup (each reports why the connection ended, and
the group's body raises that reason); the loops check after an ack whether a cancel was asked
for meanwhile; the reconnect loop compares its task's cancel requests before and after a
session (`_raise_if_cancelled`); and a cancel never leaves a connect half made (`_connected`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack, suppress
from typing import Any

import aiomqtt

from broker_access.address import BrokerAddress
from broker_access.backoff import CAP_S, Backoff
from broker_access.sockets import disable_nagle
from device_sim.gateway import Gateway, Outgoing, WillMessage
from firmware_protocol.codec import encode
from firmware_protocol.messages import Birth
from firmware_protocol.topics import DELIVERY, device_subscription, parse_topic

log = logging.getLogger(__name__)

ACCESS_POINT_CAP_S = 8.0

PUBLISHERS_PER_LINK = 4
GOODBYE_TIMEOUT_S = 5.0


def send_at_once(client: aiomqtt.Client) -> None:
    """Switch Nagle's algorithm off on the client's socket (`broker_access.sockets`)."""
    disable_nagle(client._client.socket())


class _Reconnect(Exception):
    """A directly connected device started a new session: it needs a new connection."""


class _SessionEnd:
    """Why a connection ended, set once by whichever of its tasks noticed first."""

    def __init__(self) -> None:
        self.reason: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def watch(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one of the session's tasks; its end of the connection becomes the reason instead
        of an error of the TaskGroup (which would swallow a concurrent cancel)."""
        try:
            await work
        except (_Reconnect, aiomqtt.MqttError) as exc:
            if not self.reason.done():
                self.reason.set_result(exc)


def _cancel_requests() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _raise_if_cancelled(before: int = 0) -> None:
    """Raise the cancel the task was asked for since `before` (its count of cancel requests
    then) if an ack that arrived with it made asyncio drop it (module docstring)."""
    if _cancel_requests() > before:
        raise asyncio.CancelledError


async def _connected(client: aiomqtt.Client) -> aiomqtt.Client:
    """Connect, and never leave a connection half made. A cancel that interrupts aiomqtt's
    connect (it waits for the CONNACK) leaves the socket open and the client connected with
    nobody to disconnect it: a zombie under the device's client id, whose late socket
    callbacks met the next connection's (its SUBACK went to the zombie, and the link waited
    10 s for it). So the connect finishes, shielded, and is then undone before the cancel goes on.
    """
    connecting = asyncio.ensure_future(client.__aenter__())
    try:
        return await asyncio.shield(connecting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await connecting  # bounded by aiomqtt's timeout
            await client.__aexit__(None, None, None)
        raise


class GatewayLink:
    """Runs one gateway over MQTT until cancelled."""

    def __init__(self, gateway: Gateway, broker: BrokerAddress, password: str):
        self.gateway = gateway
        self.broker = broker
        self._password = password
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._kick = asyncio.Event()
        self._will_session = 0
        self.connected = asyncio.Event()
        self.connections = 0
        # An access point is one of a few per store and its labels wait for it: it retries
        # sooner than a label connected on its own (one of thousands).
        cap_s = ACCESS_POINT_CAP_S if gateway.is_access_point else CAP_S
        self.backoff = Backoff(gateway.gateway_id, cap_s=cap_s)
        self._connected_at: float | None = None
        self._client_now: aiomqtt.Client | None = None

    def crash(self) -> None:
        """The access point dies (power cut, watchdog reset): its TCP connection ends without
        a DISCONNECT, so the broker publishes its Will; it comes back after its backoff."""
        client = self._client_now
        sock = None if client is None else client._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def act(self, action: Callable[[float], list[Outgoing]]) -> None:
        """Run `action(now)` on the gateway and publish what it returns (tests, faults)."""
        self._enqueue(action(time.monotonic()))

    def _enqueue(self, items: list[Outgoing]) -> None:
        for item in items:
            self._queue.put_nowait(item)
        self._kick.set()

    async def run(self, connect_limit: asyncio.Semaphore | None = None) -> None:
        """Stay connected until cancelled; `connect_limit` bounds simultaneous handshakes."""
        self._connect_limit = connect_limit or asyncio.Semaphore(1)
        backoff = self.backoff
        while True:
            planned = False
            self._connected_at = None
            cancels = _cancel_requests()
            try:
                await self._session(cancels)
            except* _Reconnect:
                planned = True
            except* aiomqtt.MqttError as group:
                log.info("%s: connection lost: %s", self.gateway.gateway_id, group.exceptions[0])
            self.connected.clear()
            _raise_if_cancelled(cancels)  # one the ending session's TaskGroup dropped
            if planned:
                backoff.reset()
                continue
            lasted = None if self._connected_at is None else time.monotonic() - self._connected_at
            backoff.connection_ended(lasted)
            await asyncio.sleep(backoff.next_delay())

    def _client(self, will: WillMessage) -> aiomqtt.Client:
        gw = self.gateway
        delivery = DELIVERY[will.message.OPCODE]
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=gw.gateway_id,
            username=gw.gateway_id,
            password=self._password,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=True,
            keepalive=30,
            tls_context=self.broker.tls_context(),
            will=aiomqtt.Will(
                gw.address(will.device_id).topic(will.message.OPCODE),
                encode(will.message),
                qos=delivery.qos,
                retain=delivery.retain,
            ),
        )

    async def _session(self, cancels: int) -> None:
        gw = self.gateway
        will = gw.will()
        self._will_session = will.message.session
        async with AsyncExitStack() as stack:
            async with self._connect_limit:
                client = await _connected(self._client(will))
                stack.push_async_exit(client.__aexit__)
                send_at_once(client)
                await client.subscribe(device_subscription(gw.store, gw.gateway_id), qos=1)
            _raise_if_cancelled(cancels)  # one that met the SUBACK
            self.connections += 1
            self._connected_at = time.monotonic()
            self._client_now = client
            self._enqueue(gw.connect(time.monotonic()))
            self.connected.set()
            end = _SessionEnd()
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(
                        end.watch(self._receive(client)), name=f"{gw.gateway_id}-receive"
                    )
                    tasks.create_task(end.watch(self._timers()), name=f"{gw.gateway_id}-timers")
                    for i in range(PUBLISHERS_PER_LINK):
                        tasks.create_task(
                            end.watch(self._publish(client)), name=f"{gw.gateway_id}-publish-{i}"
                        )
                    raise await end.reason
            except asyncio.CancelledError:
                # A clean disconnect fires no Will: say goodbye explicitly (Sparkplug's rule).
                await asyncio.shield(self._say_goodbye(client))
                raise

    async def _say_goodbye(self, client: aiomqtt.Client) -> None:
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(GOODBYE_TIMEOUT_S):
                for item in self.gateway.goodbye():
                    delivery = DELIVERY[item.message.OPCODE]
                    await client.publish(
                        self.gateway.address(item.device_id).topic(item.message.OPCODE),
                        encode(item.message),
                        qos=delivery.qos,
                        retain=delivery.retain,
                    )

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            parsed = parse_topic(message.topic.value)
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                continue
            now = time.monotonic()
            self._enqueue(
                self.gateway.receive(parsed.address.device, bytes(payload), now, parsed.channel)
            )

    async def _timers(self) -> None:
        while True:
            # Clear before looking, so that work queued meanwhile wakes us again.
            self._kick.clear()
            self._enqueue(self.gateway.due(time.monotonic()))
            self._kick.clear()
            deadline = self.gateway.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancel that meets a kick.
            with suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._kick.wait()

    async def _publish(self, client: aiomqtt.Client) -> None:
        gw = self.gateway
        while True:
            item = await self._queue.get()
            msg = item.message
            delivery = DELIVERY[msg.OPCODE]
            await client.publish(
                gw.address(item.device_id).topic(msg.OPCODE),
                encode(msg),
                qos=delivery.qos,
                retain=delivery.retain,
            )
            gw.stats.published += 1
            _raise_if_cancelled()  # one that met the PUBACK
            if (
                isinstance(msg, Birth)
                and not gw.is_access_point
                and msg.session > self._will_session
            ):
                raise _Reconnect(f"{item.device_id} started session {msg.session}")
