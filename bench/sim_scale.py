"""How big a store one simulator process plays on this machine: start-up time and memory.

Runs a private Mosquitto (deploy/mosquitto/), builds a store, connects it and waits until the
broker has delivered every device's Birth and first Reported to a controller-side subscriber.
Prints one JSON line per scenario.

    .venv/bin/python -m bench.sim_scale --labels 20000 --access-points 20
    .venv/bin/python -m bench.sim_scale --labels 2000 --access-points 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import tempfile
import time
from pathlib import Path

from broker_access.address import BrokerAddress
from controller.local_broker import LocalBroker
from device_sim.behaviour import Behaviour
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store
from firmware_protocol.topics import controller_subscription
from tests.support.image_server import observer_client


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(labels: int, access_points: int, checkin: float) -> dict[str, float | int]:
    store = "scale"
    rss_start = rss_mb()
    built = time.perf_counter()
    behaviour = Behaviour(checkin_s=checkin, refresh_bw_s=0, refresh_colour_s=0)
    gateways = build_store(StoreSpec(store, labels, access_points=access_points), behaviour)
    build_s = time.perf_counter() - built
    rss_built = rss_mb()
    expected = labels * 2 + access_points  # Birth + Reported(BOOT) per label, Birth per AP
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(Path(tmp), secrets.token_hex(16)) as b:
        b.add_clients([gw.gateway_id for gw in gateways])
        sim = Simulator(gateways, BrokerAddress(b.host, b.port), b.store_secret)
        async with observer_client(b, store) as ctl:
            await ctl.subscribe(controller_subscription(store), qos=1)
            seen = 0
            ready = asyncio.Event()
            started = time.perf_counter()
            connected_s = float("nan")
            async with asyncio.TaskGroup() as tasks:
                run = tasks.create_task(sim.run(ready=ready), name="sim")
                async with asyncio.timeout(600):
                    async for _ in ctl.messages:
                        seen += 1
                        if ready.is_set() and math.isnan(connected_s):
                            connected_s = time.perf_counter() - started
                        if seen >= expected:
                            break
                all_seen_s = time.perf_counter() - started
                rss_running = rss_mb()
                run.cancel()
    return {
        "labels": labels,
        "access_points": access_points,
        "connections": len(gateways),
        "build_s": round(build_s, 2),
        "connected_s": round(connected_s, 2),
        "all_births_delivered_s": round(all_seen_s, 2),
        "messages": seen,
        "rss_start_mb": round(rss_start, 1),
        "rss_built_mb": round(rss_built, 1),
        "rss_running_mb": round(rss_running, 1),
        "kb_per_device": round((rss_running - rss_start) * 1024 / max(1, labels), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=int, default=20_000)
    parser.add_argument("--access-points", type=int, default=20)
    parser.add_argument("--checkin", type=float, default=40.0)
    args = parser.parse_args()
    result = asyncio.run(measure(args.labels, args.access_points, args.checkin))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
