"""The broker configuration we ship (deploy/mosquitto/) confines every device to its own topics."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt
import pytest

from broker_access.credentials import client_password
from controller.local_broker import LocalBroker
from firmware_protocol.codec import encode
from firmware_protocol.messages import Death, Ping
from firmware_protocol.topics import DeviceAddress, controller_subscription
from tests.support.image_server import controller_client


def device_client(broker: LocalBroker, device: str, password: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=device,
        username=device,
        password=password or client_password(broker.store_secret, device),
        protocol=aiomqtt.ProtocolVersion.V311,
    )


async def collect(client: aiomqtt.Client, seconds: float) -> list[str]:
    topics: list[str] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in client.messages:
                topics.append(message.topic.value)  # noqa: PERF401 - an async loop
    return topics


async def test_device_reaches_controller_only_on_its_own_topics(
    broker: LocalBroker, store_id: str
) -> None:
    """A device's own up topic reaches the controller; another device's is silently refused."""
    broker.add_clients(["dev-a", "dev-b"])
    own = DeviceAddress.direct(store_id, "dev-a")
    forged = DeviceAddress.direct(store_id, "dev-b")
    async with controller_client(broker, store_id) as ctl, device_client(broker, "dev-a") as dev:
        await ctl.subscribe(controller_subscription(store_id), qos=1)
        await dev.publish(own.topic(Death.OPCODE), encode(Death(1)), qos=1)
        await dev.publish(forged.topic(Death.OPCODE), encode(Death(1)), qos=1)
        received = await collect(ctl, 1.0)
    assert received == [own.topic(Death.OPCODE)]


async def test_device_cannot_read_another_devices_commands(
    broker: LocalBroker, store_id: str
) -> None:
    """A device subscribed to the whole store hears only the commands addressed to itself."""
    broker.add_clients(["dev-c", "dev-d"])
    c, d = DeviceAddress.direct(store_id, "dev-c"), DeviceAddress.direct(store_id, "dev-d")
    async with controller_client(broker, store_id) as ctl, device_client(broker, "dev-c") as dev:
        await dev.subscribe(f"os1/{store_id}/#", qos=1)
        await ctl.publish(c.topic(Ping.OPCODE), encode(Ping(1)), qos=1)
        await ctl.publish(d.topic(Ping.OPCODE), encode(Ping(2)), qos=1)
        received = await collect(dev, 1.0)
    assert received == [c.topic(Ping.OPCODE)]


async def test_device_cannot_publish_commands_to_others(broker: LocalBroker, store_id: str) -> None:
    """A device cannot impersonate the controller on another device's down topic."""
    broker.add_clients(["dev-e", "dev-f"])
    f = DeviceAddress.direct(store_id, "dev-f")
    async with device_client(broker, "dev-f") as victim, device_client(broker, "dev-e") as evil:
        await victim.subscribe(f"os1/{store_id}/down/dev-f/#", qos=1)
        await evil.publish(f.topic(Ping.OPCODE), encode(Ping(66)), qos=1)
        assert await collect(victim, 1.0) == []


@pytest.mark.parametrize("who", ["unknown-device", "dev-g"])
async def test_wrong_credentials_are_refused(broker: LocalBroker, who: str) -> None:
    """An unprovisioned client, or a provisioned one with a wrong password, cannot connect."""
    broker.add_clients(["dev-g"])
    with pytest.raises(aiomqtt.MqttError):
        async with device_client(broker, who, password="not-the-derived-key"):
            pass


async def test_anonymous_clients_are_refused(broker: LocalBroker) -> None:
    """No username, no connection: the shipped config disables anonymous access."""
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, identifier="anon"):
            pass
