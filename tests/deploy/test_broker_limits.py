"""Per-role limits of the shipped broker (issue 12, finding 4): HQ is confined to its store's
catalog; devices cannot retain large or non-state messages, while HQ still sends 30 MB batches."""

from __future__ import annotations

import asyncio

import aiomqtt

from broker_access.credentials import catalog_user, controller_user, hq_user, observer_user
from controller.local_broker import LocalBroker

MB = 1024 * 1024


def _client(broker: LocalBroker, username: str, *, clean: bool = True) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=username,
        username=username,
        password=broker.password(username),
        protocol=aiomqtt.ProtocolVersion.V311,
        clean_session=clean,
    )


async def _drain(client: aiomqtt.Client, until_topic: str) -> list[tuple[str, int, bool]]:
    """(topic, size, retained) of what arrives before a message on `until_topic`."""
    seen: list[tuple[str, int, bool]] = []
    async with asyncio.timeout(20):
        async for message in client.messages:
            if message.topic.value == until_topic:
                return seen
            payload = message.payload
            size = len(payload) if isinstance(payload, bytes | bytearray) else 0
            seen.append((message.topic.value, size, message.retain))
    raise AssertionError("the subscription ended")


async def test_finding_4_hq_cannot_publish_as_a_gateway_or_to_another_store(
    broker: LocalBroker, store_id: str
) -> None:
    """HQ's account writes its own store's catalog and nothing else: not as a gateway named
    after itself, not to a device, not to another store's catalog."""
    other = f"{store_id}o"
    broker.add_store(store_id)
    broker.add_store(other)
    hq = hq_user(store_id)
    forged = [
        f"os1/{store_id}/up/{hq}/{hq}/birth",
        f"os1/{store_id}/up/{hq}/lbl-00001/birth",
        f"os1/{store_id}/down/lbl-00001/lbl-00001/desired",
        f"omnishelf/{other}/catalog/item/TR-1",
    ]
    fence = f"omnishelf/{store_id}/catalog/item/fence"
    their_fence = f"os1/{other}/down/fence/fence/cmd"
    async with (
        _client(broker, observer_user(store_id)) as ours,
        _client(broker, observer_user(other)) as theirs,
        _client(broker, controller_user(other)) as their_controller,
        _client(broker, hq) as client,
    ):
        for observer, store in ((ours, store_id), (theirs, other)):
            await observer.subscribe(f"os1/{store}/#", qos=1)
            await observer.subscribe(f"omnishelf/{store}/#", qos=1)
        for topic in forged:
            await client.publish(topic, b"forged", qos=1)
        await client.publish(fence, b"fence", qos=1)
        await their_controller.publish(their_fence, b"fence", qos=1)
        assert await _drain(ours, fence) == []
        assert await _drain(theirs, their_fence) == []


async def test_finding_4_a_label_cannot_retain_30_mb_while_hq_sends_a_30_mb_batch(
    broker: LocalBroker, store_id: str
) -> None:
    """A label's 30 MB retained message, and retained messages off its state channels, are
    refused; HQ's 30 MB batch reaches the controller's catalog session."""
    broker.add_store(store_id)
    label = f"lbl-{store_id}"
    broker.add_clients([label])
    up = f"os1/{store_id}/up/{label}/{label}"
    batch = f"omnishelf/{store_id}/catalog/batch"
    async with (
        _client(broker, catalog_user(store_id), clean=False) as catalog,
        _client(broker, observer_user(store_id)) as observer,
        _client(broker, label) as device,
        _client(broker, hq_user(store_id)) as hq,
    ):
        await catalog.subscribe(f"omnishelf/{store_id}/catalog/#", qos=1)
        await observer.subscribe(f"os1/{store_id}/#", qos=1)
        for _ in range(5):
            await device.publish(f"{up}/reported", b"r" * (30 * MB), qos=1, retain=True)
        await device.publish(f"{up}/event", b"retained event", qos=1, retain=True)
        await device.publish(f"{up}/birth", b"a small birth", qos=1, retain=True)
        await hq.publish(batch, b"b" * (30 * MB), qos=1)
        assert await _drain(observer, f"{up}/birth") == []
        async with asyncio.timeout(20):
            message = await anext(catalog.messages)
        assert (message.topic.value, len(message.payload)) == (batch, 30 * MB)  # type: ignore[arg-type]
    async with _client(broker, observer_user(store_id)) as late:
        await late.subscribe(f"{up}/#", qos=1)
        async with asyncio.timeout(5):
            retained = await anext(late.messages)
        assert (retained.topic.value, retained.payload) == (f"{up}/birth", b"a small birth")
        await _forget_retained(broker, label, f"{up}/birth")


async def _forget_retained(broker: LocalBroker, label: str, topic: str) -> None:
    async with _client(broker, label) as device:
        await device.publish(topic, b"", qos=1, retain=True)
