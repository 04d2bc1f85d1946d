"""The `omnishelf` command line: one entry point, a sub-command per job."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from controller.api.token_cli import token_app
from controller.demo.cli import demo
from controller.import_cli import import_items
from controller.local_broker import LocalBroker
from controller.render_cli import render
from controller.serve_cli import serve
from device_sim.behaviour import Behaviour
from device_sim.cli import read_secret, sim
from device_sim.store import StoreSpec, build_store

app = typer.Typer(no_args_is_help=True, help="omnishelf: e-paper shelf labels and in-store IoT")
app.command()(sim)
app.command()(render)
app.command()(serve)
app.command("import")(import_items)
app.command()(demo)
app.add_typer(token_app, name="token")
console = Console(stderr=True)


@app.command()
def broker(
    store: Annotated[str, typer.Option(help="store id")] = "store-1",
    labels: Annotated[int, typer.Option(min=0)] = 100,
    sensors: Annotated[int, typer.Option(min=0)] = 0,
    fitting_rooms: Annotated[int, typer.Option(min=0)] = 0,
    access_points: Annotated[int, typer.Option(min=0)] = 0,
    port: Annotated[int, typer.Option(help="0: a free port")] = 0,
    workdir: Annotated[Path, typer.Option()] = Path("var/broker"),
    secret_file: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Run a private Mosquitto (deploy/mosquitto/) provisioned for a simulated store."""
    if secret_file is not None and not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        secret_file.chmod(0o600)
        console.print(f"new store secret written to {secret_file}")
    secret = read_secret(secret_file)
    spec = StoreSpec(store, labels, sensors, fitting_rooms, access_points)
    clients = [gw.gateway_id for gw in build_store(spec, Behaviour())]
    with LocalBroker(workdir, secret, port=port or None) as running:
        running.add_clients(clients)
        console.print(
            f"mosquitto on {running.url} with {len(clients)} device clients; Ctrl-C stops"
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopping")


def main() -> None:
    app()


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="every scenario, smaller: < 1 min")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results")] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="run only these scenarios (repeatable)")
    ] = None,
) -> None:
    """Measure render speed, a store-wide reprice, latency, bytes on air, the MQTT ceiling and
    memory, over a private Mosquitto with the simulator (BENCHMARKS.md)."""
    try:
        from bench import runner  # noqa: PLC0415 - bench/ ships with the source tree only
    except ImportError as exc:
        console.print(f"[red]omnishelf bench runs from a source checkout: {exc}[/]")
        raise typer.Exit(2) from exc
    unknown = set(only or ()) - set(runner.SCENARIOS)
    if unknown:
        choices = ", ".join(runner.SCENARIOS)
        raise typer.BadParameter(
            f"unknown scenario {', '.join(sorted(unknown))}; choose from {choices}",
            param_hint="--only",
        )
    command = "omnishelf bench" + (" --quick" if quick else "")
    runner.main(quick, json_out, set(only) if only else None, command)
