"""The shipped broker keeps what it acknowledged across its own crash (issue 12, finding 10)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from broker_access.credentials import catalog_user, client_password, hq_user
from controller.link import Incoming, MqttSession, SessionConfig
from controller.local_broker import LocalBroker
from tests.support.running import running

STORE = "s1"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test only: it gets killed."""
    with LocalBroker(tmp_path / "broker", secrets.token_urlsafe(16), stores=(STORE,)) as running:
        yield running


def _saved_at(broker: LocalBroker) -> tuple[int, int] | None:
    """Which save of its persistence database the broker last wrote (None: never); each save
    writes a new file and renames it over the old one."""
    db = broker.workdir / "mosquitto.db"
    if not db.exists():
        return None
    stat = db.stat()
    return stat.st_ino, stat.st_mtime_ns


def _catalog_session(broker: LocalBroker, received: list[Incoming]) -> MqttSession:
    user = catalog_user(STORE)

    async def handle(batch: list[Incoming]) -> None:
        received.extend(batch)

    config = SessionConfig(
        broker.address(), user, user, broker.password(user), persistent=True, manual_ack=True
    )
    return MqttSession(config, {f"omnishelf/{STORE}/catalog/#": 1}, handle)


async def test_finding_10_a_batch_acknowledged_to_hq_survives_a_broker_sigkill(
    own_broker: LocalBroker,
) -> None:
    """HQ publishes (QoS 1, PUBACKed) while the controller's catalog session is away; the broker
    is killed with SIGKILL and restarted on its work dir; the session then receives the batch."""
    received: list[Incoming] = []
    session = _catalog_session(own_broker, received)
    async with running(session.run()):  # subscribes once: the persistent session exists
        await asyncio.wait_for(session.connected.wait(), 10)
    hq = hq_user(STORE)
    batch = b'{"batch_id": "b-1", "changes": []}'
    async with aiomqtt.Client(
        own_broker.host,
        own_broker.port,
        identifier=hq,
        username=hq,
        password=client_password(own_broker.store_secret, hq),
    ) as client:
        saved = _saved_at(own_broker)
        await client.publish(f"omnishelf/{STORE}/catalog/batch", batch, qos=1)  # PUBACKed
    # Mosquitto writes its database within 2 s of the PUBACK (deploy/mosquitto/README.md):
    # kill it as soon as that write is done.
    async with asyncio.timeout(5):
        while _saved_at(own_broker) == saved:  # noqa: ASYNC110 - a file written by another process
            await asyncio.sleep(0.001)
    own_broker.kill()
    own_broker.start()
    async with running(session.run()):
        async with asyncio.timeout(10):
            while not received:  # noqa: ASYNC110 - the handler appends
                await asyncio.sleep(0.05)
    assert [(m.topic, m.payload) for m in received] == [(f"omnishelf/{STORE}/catalog/batch", batch)]
