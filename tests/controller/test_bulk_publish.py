"""Batches published at once on the controller's device session (controller/bulk_publish.py), over
a real Mosquitto: every message arrives, in order, the call returns once all are acknowledged,
and a batch caught by a broker crash is published again on the next connection."""

from __future__ import annotations

import asyncio
import os
import secrets
import selectors
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker_access.credentials import controller_user, observer_user
from controller.bulk_publish import Outbound
from controller.link import Incoming, MqttSession, SessionConfig
from controller.local_broker import LocalBroker
from tests.support.running import running

STORE = "s1"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test only: it gets frozen and killed."""
    with LocalBroker(tmp_path / "broker", secrets.token_urlsafe(16), stores=(STORE,)) as running:
        yield running


async def _ignore(batch: list[Incoming]) -> None:
    del batch


def _session(broker: LocalBroker, *, timeout_s: float = 10.0) -> MqttSession:
    user = controller_user(STORE)
    config = SessionConfig(
        broker.address(), user, user, broker.password(user), max_inflight=0, timeout_s=timeout_s
    )
    return MqttSession(config, {f"os1/{STORE}/up/+/+/birth": 1}, _ignore)


@asynccontextmanager
async def _observed(broker: LocalBroker) -> AsyncIterator[list[tuple[str, bytes]]]:
    """Everything published on the store's down topics, in arrival order."""
    user = observer_user(STORE)
    seen: list[tuple[str, bytes]] = []
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=user,
        username=user,
        password=broker.password(user),
        protocol=aiomqtt.ProtocolVersion.V311,
    ) as client:
        await client.subscribe(f"os1/{STORE}/down/#", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                seen.append((message.topic.value, message.payload))

        async with running(collect()):
            yield seen


def _messages(count: int, devices: int = 7) -> list[Outbound]:
    """Numbered chunks over a few labels (not retained: nothing outlives the test)."""
    return [
        Outbound(
            f"os1/{STORE}/down/lbl-{n % devices}/lbl-{n % devices}/chunk",
            f"{n:06d}".encode() + b"x" * (n % 900),
            1,
            False,
        )
        for n in range(count)
    ]


async def _until(condition: object, within_s: float = 10.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - what a subscriber has seen
            await asyncio.sleep(0.02)


async def test_a_batch_arrives_whole_and_in_order_and_returns_once_acknowledged(
    broker: LocalBroker,
) -> None:
    """2,000 messages in batches of 500, with no paho window: all arrive, in publish order, and
    no acknowledgement is left pending when a batch returns."""
    broker.add_store(STORE)
    session = _session(broker)
    messages = _messages(2_000)
    async with _observed(broker) as seen, running(session.run()):
        await asyncio.wait_for(session.connected.wait(), 10)
        for start in range(0, len(messages), 500):
            await asyncio.wait_for(session.publish_all(messages[start : start + 500]), 20)
            client = session._client
            assert client is not None
            assert not client._pending_publishes  # every PUBACK came before the return
        await _until(lambda: len(seen) >= len(messages))
    assert seen == [(m.topic, m.payload) for m in messages]


async def test_an_empty_batch_returns_at_once(broker: LocalBroker) -> None:
    broker.add_store(STORE)
    session = _session(broker)
    async with running(session.run()):
        await asyncio.wait_for(session.connected.wait(), 10)
        await asyncio.wait_for(session.publish_all([]), 1)


class _ThreadObserver:
    """A paho subscriber on its own network thread that reconnects and subscribes again by
    itself (connected before the crash, so no socket of the test's loop is opened during it)."""

    def __init__(self, broker: LocalBroker) -> None:
        user = observer_user(STORE)
        self.seen: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
        self.client.username_pw_set(user, broker.password(user))
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.seen.append((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        self.subscribed.clear()
        client.subscribe(f"os1/{STORE}/down/#", qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_a_batch_caught_by_a_broker_crash_is_published_again(
    own_broker: LocalBroker,
) -> None:
    """The broker freezes (SIGSTOP) with a batch unacknowledged, then dies and comes back: the
    batch times out on the old connection, is published again on the new one, and arrives
    whole; the session is usable after it."""
    session = _session(own_broker, timeout_s=4.0)
    messages = _messages(300)
    observer = _ThreadObserver(own_broker)
    try:
        async with running(session.run()):
            await asyncio.wait_for(session.connected.wait(), 10)
            assert await asyncio.to_thread(observer.subscribed.wait, 10)
            assert own_broker.pid is not None
            os.kill(own_broker.pid, signal.SIGSTOP)
            pending = asyncio.create_task(session.publish_all(messages))
            await asyncio.sleep(0.3)
            assert not pending.done()  # no PUBACK from a frozen broker
            own_broker.kill()
            own_broker.start()
            # Resubscribed before the batch's 4 s timeout sends it again.
            assert await asyncio.to_thread(observer.subscribed.wait, 3)
            await asyncio.wait_for(pending, 15)
            assert session.connections == 2
            last = _messages(1)
            await asyncio.wait_for(session.publish_all(last), 5)
            await _until(lambda: len(observer.seen) >= len(messages) + 1)
    finally:
        observer.close()
    assert observer.seen == [(m.topic, m.payload) for m in messages + last]


async def test_a_written_batch_leaves_no_writer_on_the_event_loop(broker: LocalBroker) -> None:
    """aiomqtt registers paho's writer after the batch was already written: left registered, it
    fired at every turn of the loop and stayed in the selector after the socket closed (a new
    client given the same descriptor then never connected)."""
    broker.add_store(STORE)
    session = _session(broker)
    async with running(session.run()):
        await asyncio.wait_for(session.connected.wait(), 10)
        for _ in range(3):
            await asyncio.wait_for(session.publish_all(_messages(50)), 10)
            await asyncio.sleep(0.05)  # the deferred registrations have run
            client = session._client
            assert client is not None
            sock = client._client.socket()
            assert sock is not None
            selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
            key = selector.get_map().get(sock.fileno())
            assert key is None or not key.events & selectors.EVENT_WRITE
