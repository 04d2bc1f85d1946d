"""The `omnishelf` command line: one entry point, a sub-command per job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from conformance.cli import conformance
from controller.api.token_cli import token_app
from controller.broker_cli import broker
from controller.certs_cli import certs
from controller.demo.cli import demo
from controller.import_cli import import_items
from controller.render_cli import render
from controller.serve_cli import serve
from device_sim.cli import sim

app = typer.Typer(no_args_is_help=True, help="omnishelf: e-paper shelf labels and in-store IoT")
app.command()(sim)
app.command()(render)
app.command()(serve)
app.command("import")(import_items)
app.command()(demo)
app.command()(broker)
app.command()(certs)
app.add_typer(token_app, name="token")
app.command()(conformance)
console = Console(stderr=True)


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
