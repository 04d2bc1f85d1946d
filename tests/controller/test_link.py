"""The controller's MQTT sessions over a real Mosquitto that crashes: `connected` always tells the
truth and reconnects start over after a good connection (issue 12, findings 3, 9 and 10)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker_access.backoff import Backoff
from broker_access.credentials import controller_user
from controller.link import Incoming, MqttSession, SessionConfig
from controller.local_broker import LocalBroker
from device_sim.behaviour import Behaviour
from device_sim.mqtt import GatewayLink
from device_sim.store import StoreSpec, build_store
from tests.support.running import running

STORE = "s1"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test only: it gets stopped and killed."""
    with LocalBroker(tmp_path / "broker", secrets.token_urlsafe(16), stores=(STORE,)) as running:
        yield running


async def _ignore(batch: list[Incoming]) -> None:
    del batch


def _devices_session(
    broker: LocalBroker, *, timeout_s: float = 10.0, stable_after_s: float = 5.0
) -> MqttSession:
    user = controller_user(STORE)
    settings = SessionConfig(
        broker.address(),
        user,
        user,
        broker.password(user),
        timeout_s=timeout_s,
        stable_after_s=stable_after_s,
    )
    return MqttSession(settings, {f"os1/{STORE}/up/+/+/birth": 1}, _ignore)


async def _wait_for(condition: object, within_s: float = 10.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - state of a session under test
            await asyncio.sleep(0.02)


async def test_finding_9_a_stale_publish_timeout_leaves_the_new_connection_usable(
    own_broker: LocalBroker,
) -> None:
    """A publish awaits its PUBACK when the broker dies (SIGKILL) and comes back; the session
    reconnects before that publish times out; the timeout must not stop later publishes."""
    session = _devices_session(own_broker, timeout_s=2.0)
    topic = f"os1/{STORE}/down/lbl-1/lbl-1/cmd"
    async with running(session.run()):
        await asyncio.wait_for(session.connected.wait(), 10)
        assert own_broker.pid is not None
        os.kill(own_broker.pid, signal.SIGSTOP)  # frozen: the PUBACK cannot come
        pending = asyncio.create_task(session.publish(topic, b"first", qos=1, retain=False))
        await asyncio.sleep(0.2)  # the PUBLISH is on its way
        assert not pending.done()
        own_broker.kill()
        own_broker.start()
        await _wait_for(lambda: session.connections == 2)
        # The stale publish times out on the old connection after the new one is up: it is
        # retried on the new one, and the session stays usable.
        await asyncio.wait_for(pending, 10)
        await asyncio.wait_for(session.publish(topic, b"second", qos=1, retain=False), 5)
        assert session.connected.is_set()


def test_backoff_grows_to_its_cap_and_starts_over_after_a_good_connection() -> None:
    """Failed attempts double the delay up to the cap; a connection that lasted starts it over,
    a connection dropped at once does not."""
    backoff = Backoff("c", start_s=0.5, cap_s=8.0, stable_after_s=5.0)
    for _ in range(10):
        backoff.connection_ended(None)
        backoff.next_delay()
    assert backoff.current_s == 8.0
    backoff.connection_ended(1.0)  # dropped soon after connecting: keeps backing off
    assert backoff.current_s == 8.0
    backoff.connection_ended(6.0)
    assert backoff.current_s == 0.5
    assert 0.25 <= backoff.next_delay() <= 0.75


async def test_finding_10_controller_backoff_resets_after_a_good_connection(
    own_broker: LocalBroker,
) -> None:
    """After outages grew the controller session's backoff, a connection that lasted brings the
    next reconnect delay back to the start."""
    own_broker.stop()
    session = _devices_session(own_broker, stable_after_s=0.5)
    async with running(session.run()):
        await _wait_for(lambda: session.backoff.current_s >= 2.0)  # attempts failed meanwhile
        own_broker.start()
        await _wait_for(lambda: session.connections == 1)
        await asyncio.sleep(0.6)  # a good connection
        own_broker.kill()
        await _wait_for(lambda: not session.connected.is_set())
        await _wait_for(lambda: session.backoff.current_s <= 1.0)
        own_broker.start()
        await _wait_for(lambda: session.connections == 2, within_s=3.0)


async def test_finding_10_simulator_backoff_resets_after_a_good_connection(
    own_broker: LocalBroker,
) -> None:
    """The simulator's gateway links start their backoff over after a good connection too."""
    (gateway,) = build_store(StoreSpec(STORE, 1), Behaviour.instant())
    own_broker.add_clients([gateway.gateway_id])
    own_broker.stop()
    link = GatewayLink(gateway, own_broker.address(), own_broker.password(gateway.gateway_id))
    link.backoff.stable_after_s = 0.5
    async with running(link.run()):
        await _wait_for(lambda: link.backoff.current_s >= 2.0)
        own_broker.start()
        await _wait_for(lambda: link.connections == 1)
        await asyncio.sleep(0.6)
        own_broker.kill()
        await _wait_for(lambda: not link.connected.is_set())
        await _wait_for(lambda: link.backoff.current_s <= 1.0)
