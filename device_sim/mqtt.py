"""The simulator's only network module: each gateway over its own aiomqtt connection.

Devices speak MQTT 3.1.1 (PROTOCOL.md §1). Per connection: one task receives and hands frames
to the gateway, one runs its timers (wakes, refreshes), a few publish so that QoS 1 acks
overlap. A lost connection is retried with capped, jittered exponential backoff that starts over
after a good connection (`broker_access.backoff`); the Will is the gateway's Death with the
session the next connection will announce. Over TLS when the broker address says `mqtts://`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, suppress

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
            try:
                await self._session()
            except* _Reconnect:
                planned = True
            except* aiomqtt.MqttError as group:
                log.info("%s: connection lost: %s", self.gateway.gateway_id, group.exceptions[0])
            self.connected.clear()
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

    async def _session(self) -> None:
        gw = self.gateway
        will = gw.will()
        self._will_session = will.message.session
        async with AsyncExitStack() as stack:
            async with self._connect_limit:
                client = await stack.enter_async_context(self._client(will))
                send_at_once(client)
                await client.subscribe(device_subscription(gw.store, gw.gateway_id), qos=1)
            self.connections += 1
            self._connected_at = time.monotonic()
            self._client_now = client
            self._enqueue(gw.connect(time.monotonic()))
            self.connected.set()
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._receive(client), name=f"{gw.gateway_id}-receive")
                    tasks.create_task(self._timers(), name=f"{gw.gateway_id}-timers")
                    for i in range(PUBLISHERS_PER_LINK):
                        tasks.create_task(
                            self._publish(client), name=f"{gw.gateway_id}-publish-{i}"
                        )
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
            self._enqueue(self.gateway.receive(parsed.address.device, bytes(payload), now))

    async def _timers(self) -> None:
        while True:
            # Clear before looking, so that work queued meanwhile wakes us again.
            self._kick.clear()
            self._enqueue(self.gateway.due(time.monotonic()))
            self._kick.clear()
            deadline = self.gateway.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            with suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)

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
            if (
                isinstance(msg, Birth)
                and not gw.is_access_point
                and msg.session > self._will_session
            ):
                raise _Reconnect(f"{item.device_id} started session {msg.session}")
