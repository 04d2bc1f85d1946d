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


def _sizes(text: str | None) -> tuple[int, ...] | None:
    """ "1000,5000,20000" -> (1000, 5000, 20000)."""
    if not text:
        return None
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(
            "a comma-separated list of label counts", param_hint="--scale"
        ) from exc
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter("a comma-separated list of label counts", param_hint="--scale")
    return sizes


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="every scenario, smaller: < 1 min")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results")] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", "--scenario", help="run only these scenarios (repeatable)"),
    ] = None,
    labels: Annotated[
        int | None,
        typer.Option(min=1, help="labels in the reprice/latency store (quick 600, full 20,000)"),
    ] = None,
    render_workers: Annotated[
        int | None,
        typer.Option(min=1, help="the controller's render worker processes (default: cores)"),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(help="run the scale curve at these store sizes, e.g. 1000,5000,20000"),
    ] = None,
) -> None:
    """Measure render speed, a store-wide reprice, latency, bytes on air, the MQTT ceiling,
    memory and (when asked) the scale curve, over a private Mosquitto with the simulator
    (BENCHMARKS.md). The reprice prints where the CPU went: per process, per controller thread,
    and the controller's ceiling (labels / controller CPU s)."""
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
    sizes = _sizes(scale)
    wanted = set(only) if only else None
    if sizes and wanted is None:
        wanted = {"scale"}  # `--scale 1000,5000` alone runs the curve, not everything
    elif sizes and wanted is not None:
        wanted.add("scale")
    mode = runner.choose_mode(
        quick=quick, labels=labels, render_workers=render_workers, scale=sizes
    )
    command = "omnishelf bench" + (" --quick" if quick else "")
    for name, value in (("--labels", labels), ("--render-workers", render_workers)):
        if value is not None:
            command += f" {name} {value}"
    if scale:
        command += f" --scale {scale}"
    command += "".join(f" --only {name}" for name in sorted(only or ()))
    runner.main(quick, json_out, wanted, command, mode)
