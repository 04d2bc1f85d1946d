"""`omnishelf sim`: play a whole store of devices against a broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from broker_access.address import BrokerAddress
from device_sim.behaviour import Behaviour
from device_sim.errors import SimulatorError
from device_sim.export import contact_sheet, export_png
from device_sim.sessions import SessionCounters
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store

console = Console(stderr=True)

SECRET_ENV = "OMNISHELF_STORE_SECRET"  # noqa: S105 - the name of a variable, not a secret


def read_secret(secret_file: Path | None) -> str:
    """The store secret from a file or $OMNISHELF_STORE_SECRET (never a command-line argument,
    which other users could read in the process list)."""
    if secret_file is not None:
        return secret_file.read_text(encoding="utf-8").strip()
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise typer.BadParameter(f"give --secret-file or set ${SECRET_ENV}")
    return secret


def sim(
    broker: Annotated[
        str, typer.Option(help="mqtt://host:port, or mqtts://host:port for TLS")
    ] = "mqtt://127.0.0.1:1883",
    ca_file: Annotated[Path | None, typer.Option(help="the store CA (mqtts://)")] = None,
    cert_file: Annotated[Path | None, typer.Option(help="client certificate (mqtts://)")] = None,
    key_file: Annotated[Path | None, typer.Option(help="its key")] = None,
    store: Annotated[str, typer.Option(help="store id")] = "store-1",
    labels: Annotated[int, typer.Option(min=0, max=100_000)] = 100,
    sensors: Annotated[int, typer.Option(min=0, max=10_000)] = 0,
    fitting_rooms: Annotated[int, typer.Option(min=0, max=1_000)] = 0,
    access_points: Annotated[
        int, typer.Option(min=0, max=1_000, help="0: labels connect directly")
    ] = 0,
    secret_file: Annotated[Path | None, typer.Option(help=f"else ${SECRET_ENV}")] = None,
    checkin: Annotated[
        float, typer.Option(min=0.0, max=86_400.0, help="label check-in period, s (0: always on)")
    ] = 40.0,
    refresh: Annotated[bool, typer.Option(help="simulate e-paper refresh times")] = True,
    loss: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.0,
    duplication: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.0,
    offline_rate: Annotated[
        float, typer.Option(min=0.0, max=3_600.0, help="offline windows per device per hour")
    ] = 0.0,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1)] = 1,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="where session counters persist (default: the secret file's directory, else var/)"
        ),
    ] = None,
    duration: Annotated[
        float, typer.Option(min=0.0, max=10_000_000.0, help="seconds to run; 0 = until Ctrl-C")
    ] = 0.0,
    contact_sheet_png: Annotated[Path | None, typer.Option("--contact-sheet")] = None,
    export_dir: Annotated[Path | None, typer.Option(help="one PNG per label at exit")] = None,
) -> None:
    """Simulate a store's labels, shelf sensors and fitting rooms over a real MQTT broker."""
    defaults = Behaviour()
    behaviour = Behaviour(
        checkin_s=checkin,
        refresh_bw_s=defaults.refresh_bw_s if refresh else 0.0,
        refresh_colour_s=defaults.refresh_colour_s if refresh else 0.0,
        loss=loss,
        duplication=duplication,
        offline_rate_per_h=offline_rate,
        seed=seed,
    )
    spec = StoreSpec(store, labels, sensors, fitting_rooms, access_points)
    # Session counters never go down, not even across runs (PROTOCOL.md §4.6; sessions.py).
    state = state_dir or (secret_file.parent if secret_file is not None else Path("var"))
    try:
        counters = SessionCounters.for_store(state, store)
    except (OSError, SimulatorError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--state-dir") from exc
    gateways = build_store(spec, behaviour, counters=counters)
    address = BrokerAddress.parse(broker, ca_file=ca_file, cert_file=cert_file, key_file=key_file)
    simulator = Simulator(gateways, address, read_secret(secret_file))
    started = time.monotonic()
    console.print(
        f"[bold]omnishelf sim[/]: store {store}, {labels} labels, {sensors} shelf sensors, "
        f"{fitting_rooms} fitting rooms over {len(gateways)} connections to {broker}"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(simulator, duration, started))
    _summary(simulator, time.monotonic() - started)
    if export_dir is not None:
        export_dir.mkdir(parents=True, exist_ok=True)
        for label in simulator.labels():
            export_png(label, export_dir / f"{label.device_id}.png")
        console.print(f"label images written to {export_dir}")
    if contact_sheet_png is not None:
        contact_sheet(list(simulator.labels())[:200], contact_sheet_png)
        console.print(f"contact sheet written to {contact_sheet_png}")


async def _run(simulator: Simulator, duration: float, started: float) -> None:
    ready = asyncio.Event()

    async def announce() -> None:
        await ready.wait()
        console.print(f"all connections up after {time.monotonic() - started:.1f} s")

    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(simulator.run(ready=ready), name="simulator")
        tasks.create_task(announce(), name="announce")
        if duration > 0:
            await asyncio.sleep(duration)
            run.cancel()
        # Without a duration, the TaskGroup runs until Ctrl-C cancels it.


def _summary(simulator: Simulator, elapsed: float) -> None:
    table = Table(title=f"after {elapsed:.1f} s")
    for column in ("gateways", "frames in", "bad frames", "lost", "published", "labels applied"):
        table.add_column(column, justify="right")
    gateways = [link.gateway for link in simulator.links.values()]
    table.add_row(
        str(len(gateways)),
        str(sum(g.stats.received for g in gateways)),
        str(sum(g.stats.rejected_frames for g in gateways)),
        str(sum(g.stats.lost for g in gateways)),
        str(sum(g.stats.published for g in gateways)),
        str(sum(label.stats.applied for label in simulator.labels())),
    )
    console.print(table)
