"""The controller's side of image transfers, for simulator tests: codec frames over MQTT.

It publishes Desired + chunks exactly as PROTOCOL.md says, records everything devices publish,
and answers transfer requests (missing chunks, or a full frame when the base is unknown).
Tests can hold back or corrupt chunks to exercise resume and integrity paths.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiomqtt

from broker_access.credentials import client_password, controller_user, observer_user
from controller.local_broker import LocalBroker
from firmware_protocol.codec import decode, encode
from firmware_protocol.messages import Message, Opcode, XferReason, XferRequest
from firmware_protocol.topics import DELIVERY, DeviceAddress, controller_subscription, parse_topic
from firmware_protocol.transfer import PreparedImage, chunk_size_for, prepare_image


@dataclass
class Sent:
    prepared: PreparedImage
    planes: bytes


@dataclass
class ImageServer:
    client: aiomqtt.Client
    store: str
    max_packet: int = 1024
    received: dict[str, list[Message]] = field(default_factory=lambda: defaultdict(list))
    current: dict[str, Sent] = field(default_factory=dict)
    answer_requests: bool = True

    def __post_init__(self) -> None:
        self._xfer_ids = itertools.count(100)
        self._changed = asyncio.Condition()

    async def publish(self, address: DeviceAddress, msg: Message) -> None:
        d = DELIVERY[msg.OPCODE]
        await self.client.publish(
            address.topic(msg.OPCODE), encode(msg), qos=d.qos, retain=d.retain
        )

    async def send_image(
        self,
        address: DeviceAddress,
        planes: bytes,
        revision: int,
        *,
        base: bytes | None = None,
        only_chunks: Iterable[int] | None = None,
        corrupt_chunks: Iterable[int] = (),
    ) -> PreparedImage:
        """Publish a Desired offer and its chunks (all, or only some; some corrupted)."""
        chunk_size = chunk_size_for(self.max_packet, address.topic(Opcode.CHUNK))
        prepared = prepare_image(
            planes,
            revision=revision,
            xfer_id=next(self._xfer_ids),
            chunk_size=chunk_size,
            base=base,
        )
        self.current[address.device] = Sent(prepared, planes)
        await self.publish(address, prepared.desired)
        wanted = set(range(prepared.desired.chunk_count) if only_chunks is None else only_chunks)
        corrupt = set(corrupt_chunks)
        for chunk in prepared.chunks():
            if chunk.index not in wanted:
                continue
            frame = bytearray(encode(chunk))
            if chunk.index in corrupt:
                frame[-6] ^= 0x5A  # a bit error in the data: the frame CRC no longer matches
            d = DELIVERY[chunk.OPCODE]
            await self.client.publish(
                address.topic(chunk.OPCODE), bytes(frame), qos=d.qos, retain=d.retain
            )
        return prepared

    async def run(self) -> None:
        await self.client.subscribe(controller_subscription(self.store), qos=1)
        async for message in self.client.messages:
            parsed = parse_topic(message.topic.value)
            payload = message.payload
            assert isinstance(payload, bytes | bytearray)
            msg = decode(bytes(payload))
            async with self._changed:
                self.received[parsed.address.device].append(msg)
                self._changed.notify_all()
            if isinstance(msg, XferRequest) and self.answer_requests:
                await self._answer(parsed.address, msg)

    async def _answer(self, address: DeviceAddress, request: XferRequest) -> None:
        sent = self.current.get(address.device)
        if sent is None or sent.prepared.desired.revision != request.revision:
            return
        if request.reason is XferReason.MISSING_CHUNKS:
            for chunk in sent.prepared.chunks_for(request):
                await self.publish(address, chunk)
        else:  # BASE_UNKNOWN / INTEGRITY_FAILED: a new full offer for the same revision
            await self.send_image(address, sent.planes, request.revision)

    async def wait_for(
        self, device: str, predicate: Callable[[Message], bool], within_s: float = 10.0
    ) -> Message:
        async def match() -> Message:
            async with self._changed:
                while True:
                    for msg in self.received[device]:
                        if predicate(msg):
                            return msg
                    await self._changed.wait()

        return await asyncio.wait_for(match(), within_s)

    def messages(self, device: str, kind: type[Message]) -> list[Message]:
        return [m for m in self.received[device] if isinstance(m, kind)]


def controller_client(broker: LocalBroker, store: str) -> aiomqtt.Client:
    """The store's controller account (only where no controller of that store runs: the broker
    binds the client id to the username, so a second session would take over the first)."""
    return _service_client(broker, controller_user(store), store)


def observer_client(broker: LocalBroker, store: str) -> aiomqtt.Client:
    """The store's read-only diagnostic account: watches beside a running controller."""
    return _service_client(broker, observer_user(store), store)


def _service_client(broker: LocalBroker, username: str, store: str) -> aiomqtt.Client:
    broker.add_store(store)
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=username,
        username=username,
        password=client_password(broker.store_secret, username),
    )
