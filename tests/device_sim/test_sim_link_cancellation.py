"""A simulator cancelled while its direct label starts a new session ends, over the real
Mosquitto: on Python 3.11 that cancel could be lost in the link (device_sim/mqtt.py's docstring)
and make test hung in a teardown."""

from __future__ import annotations

import asyncio
import time

from controller.local_broker import LocalBroker
from device_sim.behaviour import Behaviour
from device_sim.gateway import Gateway, Outgoing
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store

LABEL = "lbl-00001"
ROUNDS = 60
ENDS_WITHIN_S = 3.0


async def _cancelled_during_a_new_session(broker: LocalBroker, store: str, delay_s: float) -> bool:
    """Reboot the label, cancel the simulator `delay_s` later (once); whether it ended."""
    gateways = build_store(StoreSpec(store, labels=1), Behaviour.instant())
    sim = Simulator(gateways, broker.address(), broker.store_secret)
    ready = asyncio.Event()
    task = asyncio.create_task(sim.run(ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    label = sim.label(LABEL)

    def reboot(_: Gateway, now: float) -> list[Outgoing]:
        return [Outgoing(LABEL, m) for m in label.boot(now)]

    sim.act(LABEL, reboot)
    deadline = time.monotonic() + delay_s
    while time.monotonic() < deadline:  # noqa: ASYNC110 - every loop turn, to hit each moment
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=ENDS_WITHIN_S)
    if done:
        return True
    # Clean up what a lost cancel left running (this loop serves the rest of the session).
    for stuck in asyncio.all_tasks():
        if stuck.get_name().startswith((f"link-{LABEL}", f"{LABEL}-")):
            stuck.cancel()
    await asyncio.wait({task}, timeout=ENDS_WITHIN_S)
    return False


async def test_a_simulator_cancelled_during_a_new_session_ends(broker, store_id):
    """Sixty times: a direct label reboots (its link reconnects) and the simulator is cancelled
    once, 0 to 3 ms later, as a test's teardown would; it ends every time."""
    broker.add_store(store_id)
    broker.add_clients([LABEL])
    lost = [
        n
        for n in range(ROUNDS)
        if not await _cancelled_during_a_new_session(broker, store_id, (n % 13) * 0.00025)
    ]
    assert lost == [], f"{len(lost)} of {ROUNDS} cancels lost (rounds {lost})"
