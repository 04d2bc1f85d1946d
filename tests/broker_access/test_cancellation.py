"""A reconnect loop cancelled while its session's TaskGroup fails still stops (the teardown of a
simulator hung on it: the TaskGroup raised the failure, not the CancelledError)."""

from __future__ import annotations

import asyncio

import pytest

from broker_access.backoff import raise_if_cancelled


class _Lost(Exception):
    """A connection lost (the session's receiver sees it close when the session is cancelled)."""


async def _session(stop: asyncio.Event) -> None:
    async def receiver() -> None:
        try:
            await stop.wait()
        except asyncio.CancelledError:
            raise _Lost from None  # what a closed connection looks like to the receiver

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(receiver())
        await stop.wait()


async def _reconnect_forever(checked: bool, rounds: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        rounds.append(1)
        try:
            await _session(stop)
        except* _Lost:
            pass
        if checked:
            raise_if_cancelled()
        await asyncio.sleep(0)


@pytest.mark.parametrize("checked", [True, False], ids=["checked", "unchecked"])
async def test_a_cancel_disguised_as_a_lost_connection_still_stops_the_loop(checked: bool) -> None:
    """With the check, the cancelled loop ends at once; without it, it goes on reconnecting."""
    rounds: list[int] = []
    stop = asyncio.Event()  # the unchecked loop can only be stopped this way
    loop = asyncio.create_task(_reconnect_forever(checked, rounds, stop))
    await asyncio.sleep(0.01)
    loop.cancel()
    done, _ = await asyncio.wait({loop}, timeout=0.5)
    if checked:
        assert loop in done
        assert loop.cancelled()
        assert len(rounds) == 1
    else:  # the failure this guards against, shown: the cancel was swallowed
        assert loop not in done
        assert len(rounds) > 1
        stop.set()
        await asyncio.wait_for(asyncio.gather(loop, return_exceptions=True), 5)
