"""The controller's publish path alone: CPU of its process per label offer, one message at a time
through aiomqtt (as the push stage did) against batches (controller/bulk_publish.py).

A label's reprice offer is a Desired (~60 bytes, retained) and one chunk (~500 bytes), both QoS 1.
The same offers go through the controller's own device session (controller/link.py) to a real
Mosquitto from the shipped configuration, with nobody subscribed (the broker still acknowledges
each message); the two ways alternate `rounds` times in one run, so a machine's drift shows as
spread between rounds rather than as a difference between the ways.

    .venv/bin/python -m bench.publish_path --labels 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from broker_access.credentials import controller_user
from controller.bulk_publish import Outbound
from controller.link import Incoming, MqttSession, SessionConfig
from controller.local_broker import LocalBroker

STORE = "pubpath"
PER_MESSAGE_SENDERS = 16  # the push stage's senders before batches
BATCH_SENDERS, BATCH_MESSAGES = 4, 48  # controller/pipeline/push_stage.py


async def _ignore(batch: list[Incoming]) -> None:
    del batch


def _offers(labels: int) -> list[list[Outbound]]:
    body = secrets.token_bytes(500)
    return [
        [
            Outbound(f"os1/{STORE}/down/lbl-{n}/lbl-{n}/desired", body[:60], 1, False),
            Outbound(f"os1/{STORE}/down/lbl-{n}/lbl-{n}/chunk", body, 1, False),
        ]
        for n in range(labels)
    ]


async def _per_message(session: MqttSession, offers: list[list[Outbound]]) -> None:
    queue: asyncio.Queue[list[Outbound]] = asyncio.Queue()
    for offer in offers:
        queue.put_nowait(offer)

    async def sender() -> None:
        while not queue.empty():
            offer = queue.get_nowait()
            await asyncio.gather(
                *(session.publish(m.topic, m.payload, qos=m.qos, retain=m.retain) for m in offer)
            )

    await asyncio.gather(*(sender() for _ in range(PER_MESSAGE_SENDERS)))


async def _batched(session: MqttSession, offers: list[list[Outbound]]) -> None:
    queue: asyncio.Queue[list[Outbound]] = asyncio.Queue()
    for offer in offers:
        queue.put_nowait(offer)

    async def sender() -> None:
        while not queue.empty():
            batch: list[Outbound] = []
            while len(batch) < BATCH_MESSAGES and not queue.empty():
                batch += queue.get_nowait()
            await session.publish_all(batch)

    await asyncio.gather(*(sender() for _ in range(BATCH_SENDERS)))


async def measure(labels: int, rounds: int, broker: LocalBroker) -> dict[str, list[float]]:
    """Process CPU ms per label offer of each way, per round (the store `STORE` on `broker`)."""
    broker.add_store(STORE)
    user = controller_user(STORE)
    config = SessionConfig(broker.address(), user, user, broker.password(user), max_inflight=0)
    session = MqttSession(config, {f"os1/{STORE}/up/+/+/birth": 1}, _ignore)
    offers = _offers(labels)
    ways: dict[str, Callable[[MqttSession, list[list[Outbound]]], Awaitable[None]]] = {
        "per message": _per_message,
        "batches": _batched,
    }
    results: dict[str, list[float]] = {name: [] for name in ways}
    running = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(session.connected.wait(), 10)
        await _batched(session, offers[:200])  # warm
        for _ in range(rounds):
            for name, way in ways.items():
                cpu = time.process_time()
                await way(session, offers)
                results[name].append(1000 * (time.process_time() - cpu) / labels)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--labels", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="omnishelf-pubpath-") as tmp,
        LocalBroker(Path(tmp), secrets.token_urlsafe(24), stores=(STORE,)) as broker,
    ):
        results = asyncio.run(measure(args.labels, args.rounds, broker))
    print(f"publish path, {args.labels:,} label offers (Desired + 1 chunk, QoS 1), process CPU:")
    for name, values in results.items():
        shown = " ".join(f"{v:.3f}" for v in values)
        print(f"  {name:12} median {statistics.median(values):.3f} ms a label  (rounds: {shown})")
    ratio = statistics.median(results["per message"]) / statistics.median(results["batches"])
    print(f"  per message / batches: {ratio:.2f}x")


if __name__ == "__main__":
    main()
