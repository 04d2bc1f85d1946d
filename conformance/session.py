"""The conformance check's MQTT side: the store controller's account, one device's topics.

Not controller/link.py: the check plays the controller's side message by message, must see
every frame the device publishes in arrival order with its retain flag (a retained Birth at
subscribe is a scenario) and the frames the codec refuses, and must publish frames the codec
would never produce (the malformed scenario). It subscribes to exactly one device:

    os1/{store}/up/+/{device}/#          everything the device (or its AP) publishes
    os1/{store}/down/+/{device}/desired  the retained Desired: revisions continue above it

The account is the store controller's (`controller-{store}`): the broker binds a client id to
its username, so the real controller must be stopped while the check runs (they would take
the session from each other).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import aiomqtt

from broker_access.address import BrokerAddress
from broker_access.credentials import client_password, controller_user
from broker_access.errors import BrokerAccessError
from firmware_protocol.codec import decode, encode
from firmware_protocol.errors import ProtocolError
from firmware_protocol.messages import Birth, Desired, Message, Opcode, Rebirth
from firmware_protocol.topics import DELIVERY, Channel, DeviceAddress, Direction, parse_topic

CONNECT_TIMEOUT_S = 10.0

M = TypeVar("M", bound=Message)


class ConformanceError(Exception):
    """The check cannot run (broker, credentials, no such device): not a verdict on the device."""


@dataclass(frozen=True, slots=True)
class UpMessage:
    """One frame the device published, as the controller received it."""

    index: int
    at: float  # time.monotonic() at arrival
    gateway: str
    channel: Channel
    retain: bool  # set only for a retained document delivered at subscribe (MQTT-3.3.1-8/9)
    message: Message | None  # None: the frame did not decode
    error: str = ""


class DeviceSession:
    """One MQTT connection as the store's controller, watching and driving one device."""

    def __init__(self, broker: BrokerAddress, store: str, device: str, store_secret: str):
        self.broker = broker
        self.store = store
        self.device = device
        self._secret = store_secret
        self.ups: list[UpMessage] = []
        self.desired_seen: list[Desired] = []  # retained at subscribe, and our own
        self.gateway: str | None = None
        self.lost: str = ""
        self._arrived = asyncio.Condition()
        self._client: aiomqtt.Client | None = None

    # ---- connection ---------------------------------------------------------------------------

    async def __aenter__(self) -> DeviceSession:
        user = controller_user(self.store)
        try:
            password = client_password(self._secret, user)
            tls = self.broker.tls_context()
        except BrokerAccessError as exc:
            raise ConformanceError(str(exc)) from exc
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=user,
            username=user,
            password=password,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=True,
            keepalive=30,
            timeout=CONNECT_TIMEOUT_S,
            tls_context=tls,
        )
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise ConformanceError(
                f"cannot connect to {self.broker.url} as {user}: {exc} "
                "(is the broker up, the store secret right, the store provisioned?)"
            ) from exc
        self._client = client
        try:
            await client.subscribe(f"os1/{self.store}/up/+/{self.device}/#", qos=1)
            await client.subscribe(f"os1/{self.store}/down/+/{self.device}/desired", qos=1)
        except aiomqtt.MqttError as exc:
            await client.__aexit__(None, None, None)
            raise ConformanceError(f"cannot subscribe on {self.broker.url}: {exc}") from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            # A connection that is gone already has nothing left to close.
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    @property
    def client(self) -> aiomqtt.Client:
        if self._client is None:
            raise ConformanceError("the session is not connected")
        return self._client

    async def receive(self) -> None:
        """Record everything that arrives until cancelled (run it in the runner's TaskGroup)."""
        try:
            async for message in self.client.messages:
                self._record(message)
                async with self._arrived:
                    self._arrived.notify_all()
        except aiomqtt.MqttError as exc:
            self.lost = (
                f"connection lost: {exc} (the broker ends a session when another client "
                "logs in with the same account: is the store's controller running? stop it)"
            )
            async with self._arrived:
                self._arrived.notify_all()

    def _record(self, message: aiomqtt.Message) -> None:
        try:
            parsed = parse_topic(message.topic.value)
        except ProtocolError:
            return  # a topic outside the tree of §2.1: not the device's
        payload = message.payload
        if not isinstance(payload, bytes | bytearray) or not payload:
            return  # a deleted retained document (§2.5)
        decoded: Message | None = None
        error = ""
        try:
            decoded = decode(bytes(payload))
        except ProtocolError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if parsed.direction is Direction.DOWN:
            if isinstance(decoded, Desired):
                self.desired_seen.append(decoded)
            return
        if isinstance(decoded, Birth):
            self.gateway = parsed.address.gateway
        up = UpMessage(
            len(self.ups),
            time.monotonic(),
            parsed.address.gateway,
            parsed.channel,
            bool(message.retain),
            decoded,
            error,
        )
        self.ups.append(up)

    # ---- what arrived -------------------------------------------------------------------------

    def mark(self) -> int:
        """A cursor: `wait_for(..., after=mark)` only looks at what arrives from now on."""
        return len(self.ups)

    def since(self, after: int, kind: type[M]) -> list[M]:
        return [u.message for u in self.ups[after:] if isinstance(u.message, kind)]

    async def wait_for(
        self, predicate: Callable[[UpMessage], bool], timeout_s: float, *, after: int = 0
    ) -> UpMessage | None:
        """The first message at or after `after` that matches, or None after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        position = after
        async with self._arrived:
            while True:
                for up in self.ups[position:]:
                    if predicate(up):
                        return up
                position = max(position, len(self.ups))
                if self.lost:
                    raise ConformanceError(self.lost)
                left = deadline - loop.time()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    return None

    # ---- publishing ---------------------------------------------------------------------------

    @property
    def address(self) -> DeviceAddress:
        """Where the device is reached: under the gateway of its latest Birth (§2.3)."""
        return DeviceAddress(self.store, self.gateway or self.device, self.device)

    async def send(self, msg: Message, *, retain: bool | None = None) -> None:
        """Publish one message on its topic with its QoS and retain flag (§2.4)."""
        delivery = DELIVERY[msg.OPCODE]
        await self._publish(
            self.address.topic(msg.OPCODE),
            encode(msg),
            delivery.qos,
            delivery.retain if retain is None else retain,
        )

    async def send_raw(self, channel: Channel, payload: bytes, *, retain: bool = False) -> None:
        """Publish arbitrary bytes on one of the device's down topics (malformed frames)."""
        a = self.address
        await self._publish(
            f"os1/{a.store}/down/{a.gateway}/{a.device}/{channel}", payload, 1, retain
        )

    async def rebirth_direct(self, txn: int) -> None:
        """Ask a device whose gateway is unknown, assuming it connects directly (§7.6)."""
        topic = DeviceAddress.direct(self.store, self.device).topic(Opcode.REBIRTH)
        await self._publish(topic, encode(Rebirth(txn)), 1, False)

    async def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self.lost:
            raise ConformanceError(self.lost)
        try:
            await self.client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise ConformanceError(f"publish on {topic} failed: {exc}") from exc
