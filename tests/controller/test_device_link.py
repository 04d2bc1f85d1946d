"""The device session in a child process (controller/device_link/), over a real Mosquitto.

The link subscribes to the store's down topics, which the controller's account may read too, so
what it publishes comes back to its own handler: one process plays both ends."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from broker_access.credentials import controller_user
from controller.bulk_publish import Outbound
from controller.device_link.process import WORKER, DeviceLinkProcess, Urgent
from controller.link import Handler, Incoming, SessionConfig
from controller.local_broker import LocalBroker
from tests.support.running import running

STORE = "s1"
DOWN = f"os1/{STORE}/down/lbl-1/lbl-1/cmd"
RESPONSE = f"os1/{STORE}/down/fr-1/fr-1/response"  # the urgent channel of the lane tests


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test only: it gets frozen."""
    with LocalBroker(tmp_path / "broker", secrets.token_urlsafe(16), stores=(STORE,)) as running:
        yield running


def _link(
    broker: LocalBroker,
    handler: Handler,
    *,
    timeout_s: float = 10.0,
    urgent: Urgent | None = None,
) -> DeviceLinkProcess:
    user = controller_user(STORE)
    config = SessionConfig(
        broker.address(), user, user, broker.password(user), max_inflight=0, timeout_s=timeout_s
    )
    return DeviceLinkProcess(config, {f"os1/{STORE}/down/#": 1}, handler, urgent=urgent)


def _messages(count: int, start: int = 0) -> list[Outbound]:
    return [Outbound(DOWN, f"m{i}".encode(), 1, False) for i in range(start, start + count)]


async def _wait_for(condition: object, within_s: float = 10.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - state of a link under test
            await asyncio.sleep(0.02)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_messages_go_out_and_come_in_through_the_child_in_order(
    own_broker: LocalBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seen: list[bytes] = []

    async def collect(batch: list[Incoming]) -> None:
        seen.extend(m.payload for m in batch)

    link = _link(own_broker, collect)
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 10)
        assert link.pid is not None
        assert link.pid != os.getpid()
        assert WORKER in psutil.Process(link.pid).cmdline()
        await asyncio.wait_for(link.publish_all(_messages(500)), 10)
        await link.publish(DOWN, b"single", qos=1, retain=False)
        await _wait_for(lambda: len(seen) == 501)
    assert seen == [m.payload for m in _messages(500)] + [b"single"]
    # The child's log records are logged here, under their own names.
    assert any(r.name == "controller.link" and "connected (1)" in r.message for r in caplog.records)


async def test_a_busy_handler_gets_what_arrived_meanwhile_in_one_batch(
    own_broker: LocalBroker,
) -> None:
    """No batch goes to the handler before it has finished the last one; then everything that
    arrived meanwhile comes at once, in order."""
    batches: list[list[bytes]] = []
    release = asyncio.Event()

    async def slow(batch: list[Incoming]) -> None:
        batches.append([m.payload for m in batch])
        if len(batches) == 1:
            await release.wait()

    link = _link(own_broker, slow)
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 10)
        await link.publish_all(_messages(1))
        await _wait_for(lambda: len(batches) == 1)
        for i in range(1, 41):  # one at a time, each acknowledged by the broker
            await link.publish_all(_messages(1, start=i))
        await asyncio.sleep(0.3)
        assert len(batches) == 1  # held back while the handler works
        release.set()
        await _wait_for(lambda: sum(map(len, batches)) == 41)
    assert batches[0] == [b"m0"]
    assert len(batches) < 10  # the 40 came in a few batches, not one by one
    assert [p for batch in batches for p in batch] == [m.payload for m in _messages(41)]


async def test_a_killed_link_process_is_replaced_and_its_unanswered_publish_goes_again(
    own_broker: LocalBroker,
) -> None:
    """A publish waits for its PUBACK (the broker is frozen) when the child is killed: a new
    child connects and publishes it; the caller's call returns and it arrives."""
    seen: list[bytes] = []

    async def collect(batch: list[Incoming]) -> None:
        seen.extend(m.payload for m in batch)

    link = _link(own_broker, collect)
    assert own_broker.pid is not None
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 10)
        first = link.pid
        assert first is not None
        os.kill(own_broker.pid, signal.SIGSTOP)
        try:
            pending = asyncio.create_task(link.publish_all(_messages(3)))
            await asyncio.sleep(0.3)
            assert not pending.done()
            os.kill(first, signal.SIGKILL)
            await _wait_for(lambda: link.starts == 2)
            assert not link.connected.is_set()
        finally:
            os.kill(own_broker.pid, signal.SIGCONT)
        await asyncio.wait_for(pending, 15)
        assert link.connections == 2
        assert link.pid is not None
        assert link.pid != first
        await _wait_for(lambda: b"m2" in seen)
    assert seen[-3:] == [b"m0", b"m1", b"m2"]
    assert _gone(first)


async def test_a_handler_waiting_for_a_publish_when_its_child_dies_finishes_with_the_next(
    own_broker: LocalBroker,
) -> None:
    """The handler publishes while handling a batch, and its child dies before the broker's
    ack: the next child makes that publish, the handler finishes, and messages flow again."""
    seen: list[bytes] = []
    waiting = asyncio.Event()
    assert own_broker.pid is not None
    broker_pid = own_broker.pid

    async def answering(batch: list[Incoming]) -> None:
        seen.extend(m.payload for m in batch)
        if any(m.payload == b"m0" for m in batch):
            os.kill(broker_pid, signal.SIGSTOP)  # the ack of what follows cannot come
            waiting.set()
            await link.publish(DOWN, b"from the handler", qos=1, retain=False)

    link = _link(own_broker, answering)
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 10)
        first = link.pid
        assert first is not None
        try:
            sent = asyncio.create_task(link.publish_all(_messages(1)))
            await asyncio.wait_for(waiting.wait(), 10)
            await asyncio.sleep(0.2)
            os.kill(first, signal.SIGKILL)
            await _wait_for(lambda: link.starts == 2)
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        await _wait_for(lambda: b"from the handler" in seen, within_s=15)
        await asyncio.wait_for(sent, 10)
        await asyncio.wait_for(link.publish_all(_messages(1, start=1)), 10)
        await _wait_for(lambda: b"m1" in seen)


async def test_a_handler_error_stops_the_link_with_that_error_and_ends_the_child(
    own_broker: LocalBroker,
) -> None:
    async def broken(batch: list[Incoming]) -> None:
        raise ValueError(f"a bug, at {len(batch)} messages")

    link = _link(own_broker, broken)
    run = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        child = link.pid
        assert child is not None
        await link.publish(DOWN, b"boom", qos=1, retain=False)
        with pytest.raises(ValueError, match="a bug, at 1 messages"):
            await asyncio.wait_for(run, 10)
    finally:
        run.cancel()
    assert link.pid is None
    assert _gone(child)


async def test_a_cancelled_link_ends_its_child(own_broker: LocalBroker) -> None:
    async def ignore(batch: list[Incoming]) -> None:
        del batch

    link = _link(own_broker, ignore)
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 10)
        child = link.pid
        assert child is not None
    assert link.pid is None
    assert _gone(child)


async def test_the_urgent_lane_is_not_held_behind_a_busy_bulk_handler(
    own_broker: LocalBroker,
) -> None:
    """While the bulk handler works on a batch, messages of the urgent channels reach their own
    handler; what it hands back joins the bulk lane behind what arrived before it."""
    bulk: list[bytes] = []
    urgent: list[bytes] = []
    release = asyncio.Event()

    async def slow(batch: list[Incoming]) -> None:
        bulk.extend(m.payload for m in batch)
        await release.wait()

    async def quick(batch: list[Incoming]) -> list[Incoming]:
        urgent.extend(m.payload for m in batch)
        return [m for m in batch if m.payload.startswith(b"later")]

    link = _link(own_broker, slow, urgent=Urgent(frozenset({"response"}), quick))
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 10)
        await link.publish_all(_messages(1))
        await _wait_for(lambda: bulk == [b"m0"])
        await link.publish_all(_messages(1, start=1))  # waits behind the busy handler
        await link.publish_all([Outbound(RESPONSE, b"now", 1, False)])
        await link.publish_all([Outbound(RESPONSE, b"later", 1, False)])
        await _wait_for(lambda: urgent == [b"now", b"later"])
        assert bulk == [b"m0"]  # still busy
        release.set()
        await _wait_for(lambda: len(bulk) == 3)
    assert bulk == [b"m0", b"m1", b"later"]
    assert urgent == [b"now", b"later"]


async def test_an_urgent_handler_error_stops_the_link_with_that_error(
    own_broker: LocalBroker,
) -> None:
    async def bulk(_batch: list[Incoming]) -> None:
        return None

    async def failing(_batch: list[Incoming]) -> list[Incoming]:
        raise RuntimeError("a bug in the urgent handler")

    link = _link(own_broker, bulk, urgent=Urgent(frozenset({"response"}), failing))
    run = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        child = link.pid
        assert child is not None
        await link.publish_all([Outbound(RESPONSE, b"x", 1, False)])
        with pytest.raises(RuntimeError, match="a bug in the urgent handler"):
            await asyncio.wait_for(run, 10)
    finally:
        run.cancel()
    assert link.pid is None
    assert _gone(child)
