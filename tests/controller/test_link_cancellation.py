"""The controller's MQTT session honours every cancel over a real Mosquitto: on Python 3.11 a
cancel that met a PUBACK was lost in aiomqtt's wait, and the task went on (a stopping controller
waited for it forever)."""

from __future__ import annotations

import asyncio
import time

from broker_access.credentials import controller_user
from controller.link import Incoming, MqttSession, SessionConfig
from controller.local_broker import LocalBroker
from tests.support.running import running

ROUNDS = 200


async def _ignore(batch: list[Incoming]) -> None:
    del batch


async def test_a_publish_cancelled_as_its_ack_arrives_is_cancelled(broker: LocalBroker, store_id):
    """Publishes cancelled 0 to 2 ms after they start: each one the cancel reached before it
    returned ends cancelled, never as if it had not been asked."""
    broker.add_store(store_id)
    user = controller_user(store_id)
    config = SessionConfig(broker.address(), user, user, broker.password(user))
    session = MqttSession(config, {}, _ignore)
    lost = []
    async with running(session.run()):
        await asyncio.wait_for(session.connected.wait(), 10)
        for n in range(ROUNDS):
            topic = f"os1/{store_id}/down/lbl-1/lbl-1/cmd"
            task = asyncio.create_task(session.publish(topic, b"x", qos=1, retain=False))
            deadline = time.monotonic() + (n % 20) * 0.0001
            while time.monotonic() < deadline:  # noqa: ASYNC110 - every loop turn, each moment
                await asyncio.sleep(0)
            asked = task.cancel()
            await asyncio.wait({task}, timeout=10)
            if asked and not task.cancelled():
                lost.append(n)
    assert lost == [], f"{len(lost)} of {ROUNDS} cancels lost"
