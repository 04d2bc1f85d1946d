"""The shipped broker binds each session to its account: a device's credentials cannot connect
under the controller's client id and end its session (issue 12, finding 3)."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from broker_access.credentials import catalog_user, client_password, controller_user, hq_user
from controller.local_broker import LocalBroker


def _client(
    broker: LocalBroker, username: str, *, identifier: str | None = None, clean: bool = True
) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=identifier or username,
        username=username,
        password=client_password(broker.store_secret, username),
        protocol=aiomqtt.ProtocolVersion.V311,
        clean_session=clean,
    )


async def _next_topic(client: aiomqtt.Client, within_s: float) -> str:
    async with asyncio.timeout(within_s):
        async for message in client.messages:
            return message.topic.value
    raise AssertionError("the subscription ended")


@pytest.mark.parametrize("victim", ["devices", "catalog"])
async def test_finding_3_a_label_cannot_take_over_a_controller_session(
    broker: LocalBroker, store_id: str, victim: str
) -> None:
    """A label connecting (again and again) with a controller session's client id does not end
    that session: the broker replaces the client id by the label's username."""
    broker.add_store(store_id)
    thief = f"lbl-{store_id}"
    broker.add_clients([thief])
    if victim == "devices":
        account, prober = controller_user(store_id), thief
        topic = f"os1/{store_id}/up/{thief}/{thief}/event"
    else:
        account, prober = catalog_user(store_id), hq_user(store_id)
        topic = f"omnishelf/{store_id}/catalog/item/TR-1"
    async with _client(broker, account, clean=False) as session:
        await session.subscribe(topic, qos=1)
        for _ in range(3):
            async with _client(broker, thief, identifier=account):
                pass
        async with _client(broker, prober) as client:
            await client.publish(topic, b"probe", qos=1)
        # A session that was taken over ends its message stream with an MqttError here.
        assert await _next_topic(session, 5.0) == topic


async def test_a_service_account_cannot_be_provisioned_as_a_device(broker: LocalBroker) -> None:
    """Device ids that are a service account's name are refused at provisioning: the device would
    get that account's password."""
    for reserved in ("controller-s1", "hq-s1", "observer-s1", "controller-s1-catalog"):
        with pytest.raises(ValueError, match="reserved"):
            broker.add_clients([reserved])


async def test_a_second_connection_of_an_account_replaces_the_first(
    broker: LocalBroker, store_id: str
) -> None:
    """One account is one session, whatever client id it asks for: the later connection wins
    (why each controller session and HQ have accounts of their own)."""
    broker.add_store(store_id)
    user = hq_user(store_id)
    async with _client(broker, user, identifier="first") as first:
        await first.subscribe(f"omnishelf/{store_id}/catalog-status/#", qos=1)
        async with _client(broker, user, identifier="second"):
            with pytest.raises(aiomqtt.MqttError):  # the first one's stream ends
                await _next_topic(first, 3.0)
