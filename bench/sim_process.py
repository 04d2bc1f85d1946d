"""The simulated store of a benchmark, in its own process (as it would be on its own hardware):
its CPU never competes with the benchmark's clock-keeping event loop, and its memory is its own.

Prints one JSON line when its store is built ({"rss_mb": ...}) and one when every connection is
up ({"ready": true, "rss_mb": ...}); runs until terminated. The store secret comes from
$OMNISHELF_STORE_SECRET. Labels are immediate (no wake delay, no refresh time, no radio limit),
so that what is measured is the controller.

    python -m bench.sim_process --broker mqtt://127.0.0.1:PORT --store bench --labels 20000 \
        --access-points 20
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sys

from bench.harness import rss_mb
from broker_access.address import BrokerAddress
from device_sim.behaviour import Behaviour
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store

# Immediate labels. An always-listening label also wakes every `resume_after_s` to ask again for
# chunks that did not arrive; nothing is lost here, and at 0.5 s (the tests' value) 20,000 labels
# made 40,000 wakes a second: half a core of the simulator's, taken from the controller.
BEHAVIOUR = Behaviour.instant(resume_after_s=5.0)


def _say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def _run(args: argparse.Namespace) -> None:
    spec = StoreSpec(args.store, args.labels, access_points=args.access_points)
    _say(rss_mb=rss_mb(), phase="started")
    faults = {
        "loss": args.loss,
        "duplication": args.duplication,
        "offline_rate_per_h": args.offline_rate_per_h,
        "offline_mean_s": args.offline_mean_s,
    }
    behaviour = dataclasses.replace(BEHAVIOUR, **faults)
    gateways = build_store(spec, behaviour)
    _say(rss_mb=rss_mb(), phase="built")
    secret = os.environ["OMNISHELF_STORE_SECRET"]
    simulator = Simulator(gateways, BrokerAddress.parse(args.broker), secret)
    ready = asyncio.Event()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # SIGUSR1: every access point dies and comes back; its labels keep what they show.
    loop.add_signal_handler(signal.SIGUSR1, simulator.crash_access_points)
    # SIGUSR2: the radio's faults stop, and every label in an offline window comes back.
    loop.add_signal_handler(signal.SIGUSR2, simulator.end_faults)
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(simulator.run(ready=ready), name="simulator")
        await ready.wait()
        _say(rss_mb=rss_mb(), phase="ready")
        await stop.wait()
        run.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--labels", type=int, required=True)
    parser.add_argument("--access-points", type=int, required=True)
    # The radio's faults (the chaos run, bench/chaos.py); none by default.
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--duplication", type=float, default=0.0)
    parser.add_argument("--offline-rate-per-h", type=float, default=0.0)
    parser.add_argument("--offline-mean-s", type=float, default=300.0)
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
