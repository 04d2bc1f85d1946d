"""`omnishelf bench`: every scenario in one run, over one Mosquitto, printed and saved as JSON.

Quick mode (`make test` runs it) is a smaller version of every scenario, under a minute on the
standard 2-core machine; its numbers are printed, never asserted. Full mode gives the numbers of
BENCHMARKS.md:

1. render: labels/s per model, one process and every core, next to bare Pillow;
2. reprice: a store's every price in one catalog batch, until every label reports it;
3. latency: single price changes, idle and during the reprice;
4. bytes: bytes on air per update and model, against a full zlib frame and raw planes;
5. mqtt: the same count and size of messages as the reprice through minimal paho clients;
6. memory: the controller per label at several store sizes, the simulator per device;
7. scale (only when asked: `--scale 1000,5000` or `--only scale`): the store run at each size,
   first convergence, reprice, the controller's CPU per label and its memory.

With the reprice comes the cpu section: CPU seconds per process (controller, render workers,
simulator, Mosquitto) and per controller thread (event loop, database, other) during the first
convergence and the reprice, and the controller's ceiling (labels / controller CPU s).
`--labels` and `--render-workers` change the main store, so that a many-core run or another
store size needs no code change.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import bytes_on_air, mqtt_ceiling, render_models
from bench.ceiling import cpu_section, scale_section
from bench.harness import Section, machine, percentile, print_section
from bench.pipeline import (
    StoreRun,
    latency_section,
    memory_section,
    reprice_section,
    run_store,
)
from bench.store_devices import devices_section, run_devices
from bench.store_rig import StoreShape
from controller.local_broker import LocalBroker

SCENARIOS = ("render", "reprice", "latency", "bytes", "mqtt", "memory", "devices", "scale")
DEFAULT_SCENARIOS = SCENARIOS[:-1]  # the scale curve runs when asked for


@dataclass(frozen=True)
class Mode:
    labels: int  # the reprice store
    idle_probes: int
    busy_probes: int
    probe_interval_s: float
    memory_stores: tuple[int, ...]  # further store sizes for the memory scenario
    scale_stores: tuple[int, ...]  # the scale curve's store sizes
    sensors: int  # the devices scenario: shelf sensors, fitting rooms, probe sensors
    rooms: int
    probe_sensors: int
    render_workers: int | None = None  # None: one per core (StoreShape's default)


QUICK = Mode(
    labels=600,
    idle_probes=40,
    busy_probes=40,
    probe_interval_s=0.02,
    memory_stores=(),
    scale_stores=(300, 600),
    sensors=40,
    rooms=5,
    probe_sensors=1,
)
FULL = Mode(
    labels=20_000,
    idle_probes=1000,
    busy_probes=1000,
    probe_interval_s=0.02,
    memory_stores=(1000, 10_000),
    scale_stores=(1000, 5000, 20_000, 50_000),
    sensors=500,
    rooms=50,
    probe_sensors=2,
)


def shape(mode: Mode, labels: int) -> StoreShape:
    if mode.render_workers is None:
        return StoreShape(labels)
    return StoreShape(labels, render_workers=mode.render_workers)


def choose_mode(
    *,
    quick: bool,
    labels: int | None = None,
    render_workers: int | None = None,
    scale: tuple[int, ...] | None = None,
) -> Mode:
    """The quick or full mode, with the command line's store size, workers and scale sizes."""
    mode = QUICK if quick else FULL
    if labels is not None:
        mode = replace(mode, labels=labels)
    if render_workers is not None:
        mode = replace(mode, render_workers=render_workers)
    if scale:
        mode = replace(mode, scale_stores=tuple(sorted(set(scale))))
    return mode


def run_all(
    *,
    quick: bool,
    only: set[str] | None = None,
    on_section: Callable[[Section], None] = lambda _: None,
    mode: Mode | None = None,
) -> list[Section]:
    """Run the scenarios (all but scale, or `only` these), in an order that shares their work."""
    mode = mode or (QUICK if quick else FULL)
    wanted = set(only or DEFAULT_SCENARIOS)
    sections: list[Section] = []

    def done(section: Section) -> None:
        sections.append(section)
        on_section(section)

    if "render" in wanted:
        done(render_models.run(quick=quick))
    with (
        tempfile.TemporaryDirectory(prefix="omnishelf-bench-") as tmp,
        LocalBroker(Path(tmp), secrets.token_hex(16)) as broker,
    ):
        if "bytes" in wanted:
            done(asyncio.run(bytes_on_air.run(broker, quick=quick)))
        main = None
        if wanted & {"reprice", "latency", "mqtt", "memory"}:
            main = _store_scenarios(broker, mode, wanted, done)
        if "devices" in wanted:
            done(_devices(broker, mode, main if "latency" in wanted else None))
        if "scale" in wanted:
            done(_scale(broker, mode))
    return sections


def _devices(broker: LocalBroker, mode: Mode, without: StoreRun | None) -> Section:
    """The store with its shelves and fitting rooms (bench/store_devices.py)."""
    started = time.perf_counter()
    store = replace(
        shape(mode, mode.labels),
        sensors=mode.sensors,
        rooms=mode.rooms,
        probe_sensors=mode.probe_sensors,
    )
    run = asyncio.run(
        run_devices(
            broker,
            store,
            idle_probes=min(mode.idle_probes, 50),
            busy_probes=mode.busy_probes,
            probe_interval_s=mode.probe_interval_s,
        )
    )
    baseline = None
    if without is not None:
        busy = [p.shown_ms for p in without.busy]
        baseline = {
            "p50_ms": round(percentile(busy, 50), 1),
            "p99_ms": round(percentile(busy, 99), 1),
        }
    section = devices_section(run, baseline)
    section.seconds = time.perf_counter() - started
    return section


def _scale(broker: LocalBroker, mode: Mode) -> Section:
    """The store run at each size (no latency probes, no render-only pass)."""
    started = time.perf_counter()
    runs = [
        asyncio.run(
            run_store(
                broker,
                shape(mode, labels),
                idle_probes=0,
                busy_probes=0,
                probe_interval_s=mode.probe_interval_s,
                render_only=False,
            )
        )
        for labels in mode.scale_stores
    ]
    section = scale_section(runs)
    section.seconds = time.perf_counter() - started
    return section


def _store_scenarios(
    broker: LocalBroker, mode: Mode, wanted: set[str], done: Callable[[Section], None]
) -> StoreRun:
    started = time.perf_counter()
    main = asyncio.run(
        run_store(
            broker,
            shape(mode, mode.labels),
            idle_probes=mode.idle_probes if "latency" in wanted else 0,
            busy_probes=mode.busy_probes if "latency" in wanted else 0,
            probe_interval_s=mode.probe_interval_s,
            render_only=True,
        )
    )
    seconds = time.perf_counter() - started
    for name, make in (
        ("reprice", reprice_section),
        ("reprice", cpu_section),
        ("latency", _latency),
    ):
        if name in wanted:
            section = make(main)
            section.seconds = seconds
            done(section)
    if "mqtt" in wanted:
        air = main.reprice["downlink"]
        ceiling = mqtt_ceiling.run(
            broker,
            count=air["messages"],
            payload_bytes=max(1, round(air["bytes"] / max(1, air["messages"]))),
            gateways=main.shape.access_points,
        )
        ours = air["messages"] / main.reprice["seconds"]
        for row in ceiling.rows:
            row["pipeline_share"] = round(ours / row["msgs_per_s"], 2)
        ceiling.notes.append(
            f"The reprice sent {air['messages']:,} messages (Desired and chunks,"
            f" {air['bytes'] / max(1, air['messages']):.0f} B on average) to the labels in"
            f" {main.reprice['seconds']:.1f} s: {ours:,.0f} msg/s; pipeline_share is that rate"
            " over each row's."
        )
        done(ceiling)
    if "memory" in wanted:
        started = time.perf_counter()
        runs = [
            asyncio.run(
                run_store(
                    broker,
                    shape(mode, labels),
                    idle_probes=0,
                    busy_probes=0,
                    probe_interval_s=mode.probe_interval_s,
                    render_only=False,
                )
            )
            for labels in mode.memory_stores
        ]
        section = memory_section([*runs, main])
        section.seconds = time.perf_counter() - started + seconds
        done(section)
    return main


def _latency(run: StoreRun) -> Section:
    return latency_section([run])


def report(sections: list[Section], *, quick: bool, command: str) -> dict[str, Any]:
    return {
        "command": command,
        "mode": "quick" if quick else "full",
        "machine": machine(),
        "sections": [s.to_json() for s in sections],
    }


def main(
    quick: bool,
    json_out: Path | None,
    only: set[str] | None,
    command: str,
    mode: Mode | None = None,
) -> None:
    console = Console()
    info = machine()
    console.print(
        f"[bold]omnishelf bench[/] ({'quick' if quick else 'full'}): {info['cores']} cores,"
        f" {info['cpu']}, {info['memory_gib']} GiB, Python {info['python']},"
        f" Mosquitto {info['mosquitto']}",
        highlight=False,
    )
    started = time.perf_counter()
    sections = run_all(
        quick=quick, only=only, on_section=lambda s: print_section(s, console), mode=mode
    )
    elapsed = time.perf_counter() - started
    console.print(f"all scenarios in {elapsed:.1f} s", highlight=False)
    if json_out is not None:
        document = report(sections, quick=quick, command=command)
        document["seconds"] = round(elapsed, 1)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"results written to {json_out}", highlight=False)
