"""`omnishelf demo`: a whole simulated store and its web console, until Ctrl-C.

Prints what to open, the tokens to log in with and what to try, then the store's first
convergence (labels showing their image / all labels) and, after it, HQ's changes as they come.

Ctrl-C stops everything in order (web, HQ, controller, simulator, broker) without a traceback.
A terminal sends Ctrl-C's SIGINT to the whole process group, so the render worker processes
would get it too and each die with a KeyboardInterrupt of its own: they are forked from a
forkserver started here with SIGINT ignored, which they inherit, and leave stopping to us.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from controller.convergence import ConvergenceEstimate
from controller.demo.stack import BROKERS, DemoError, DemoStack, running_demo
from controller.service import EXIT_STOPPED, failure_reason

console = Console(soft_wrap=True, highlight=False)
PROGRESS_EVERY_S = 2.0
CONVERGING_EVERY_S = 1.0


def _quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # paho warns about queued publishes during a store-wide push; amqtt logs every connection.
    for name in ("mqtt", "amqtt", "transitions", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _workers_ignore_sigint() -> None:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(["label_renderer.batch"])
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_tokens(workdir: Path, tokens: dict[str, str]) -> Path:
    path = workdir / "tokens.json"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(tokens, out, indent=2)
    return path


def _banner(stack: DemoStack, tokens_file: Path) -> None:
    console.print()
    console.print(f"[bold green]omnishelf demo store '{stack.store}' is open[/]")
    console.print(
        f"  {stack.labels} labels, {len(stack.hq.changes.items)} items,"
        f" {len(stack.sensors)} shelf sensors ({stack.lanes} lanes),"
        f" {len(stack.fitting_rooms)} fitting rooms,"
        f" broker: {stack.broker} on 127.0.0.1:{stack.broker_port} (private)"
    )
    console.print()
    console.print(f"[bold]Open[/]  {stack.url}/   (API docs: {stack.url}/docs)")
    console.print(f"[bold]Log in with a token[/] (also in {tokens_file}):")
    for role in ("admin", "staff", "viewer"):
        console.print(f"  {role:<7} {stack.tokens[role]}")
    console.print()
    console.print("[bold]Try[/]")
    console.print('  - search an item ("süt", "zeytinyağı", a barcode) and change its price;')
    console.print("  - watch the store wall: HQ changes prices, promotions and stock every few s;")
    console.print("  - locate a label: its LED flashes on the wall;")
    console.print("  - look at the problems page: offline labels, failed updates, low batteries;")
    if stack.sensors or stack.fitting_rooms:
        console.print(
            "  - the alerts page (/alerts): in about 40 s the shelves' first counts raise low and"
            " out of stock, fitting rooms ask for help; acknowledge and resolve them;"
        )
    if stack.fitting_rooms:
        console.print(
            f"  - the fitting rooms (/rooms): what shoppers try on; /rooms/{stack.fitting_rooms[0]}"
            " is a room's kiosk page;"
        )
    if stack.sensors:
        console.print(
            f"  - a shelf's lanes and their counts: {stack.url}/api/v1/sensors/"
            f"{stack.sensors[0]}/lanes (with a token), an item's: /api/v1/stock/{{sku}};"
        )
    console.print("  - scan a label's QR code (or open /q/...) to land on the item's reviews.")
    console.print("Ctrl-C stops everything.")
    console.print()


async def _run(
    workdir: Path,
    port: int,
    labels: int,
    broker: str,
    seed: int,
    interval_s: float,
    sensors: int,
    fitting_rooms: int,
) -> None:
    started = time.monotonic()
    main = asyncio.current_task()
    if main is not None:  # SIGTERM (a service manager, `kill`) stops the demo as Ctrl-C does
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    async with running_demo(
        workdir,
        port=port,
        labels=labels,
        sensors=sensors,
        fitting_rooms=fitting_rooms,
        broker=broker,
        seed=seed,
        catalog_interval_s=interval_s,
    ) as stack:
        _banner(stack, _write_tokens(workdir, stack.tokens))
        console.print(
            f"started in {time.monotonic() - started:.1f} s; first update of every label:"
        )
        try:
            await _report(stack, labels)
        except asyncio.CancelledError:
            # Stopping: the broker (which got the terminal's SIGINT too) and the sessions go
            # away in the next second, and their "connection lost" would only be noise.
            logging.disable(logging.CRITICAL)
            raise


async def _report(stack: DemoStack, labels: int, out: Console = console) -> None:
    """The first convergence (labels showing their first image) every CONVERGING_EVERY_S with
    an estimate of the time left (controller/convergence.py), then HQ's changes."""
    await converging(stack, labels, out)
    reported = stack.hq.published
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        recent = list(stack.hq.recent)
        fresh = stack.hq.published - reported
        reported = stack.hq.published
        for change in recent[len(recent) - min(fresh, len(recent)) :]:
            out.print(f"  HQ {change.kind:<16} {change.summary}")


async def converging(stack: DemoStack, labels: int, out: Console = console) -> None:
    """ "  400 / 1,200 labels confirmed (1,100 rendered), ~12 s left" each second, from the first:
    the rendered count moves within a second or two, the confirmed one later."""
    opened = time.monotonic()
    estimate = ConvergenceEstimate()
    while True:
        progress = estimate.observe(time.monotonic(), await stack.progress())
        if progress.counts.confirmed >= labels:
            break
        out.print(f"  {progress.describe()}")
        await asyncio.sleep(CONVERGING_EVERY_S)
    out.print(
        f"[green]all {labels} labels confirmed[/] in {time.monotonic() - opened:.1f} s;"
        " HQ's changes from now on:"
    )


def demo(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="the web console's port on 127.0.0.1 (0: free)")
    ] = 8000,
    labels: Annotated[int, typer.Option(min=1, max=20000, help="simulated labels")] = 1200,
    sensors: Annotated[
        int, typer.Option(min=0, max=500, help="smart-shelf weight sensors (4 or 8 lanes each)")
    ] = 12,
    fitting_rooms: Annotated[
        int, typer.Option(min=0, max=100, help="fitting rooms with RFID readers")
    ] = 4,
    broker: Annotated[
        str, typer.Option(help="auto (Mosquitto if installed, else amqtt), mosquitto or amqtt")
    ] = "auto",
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="the store's catalog and devices")
    ] = 1,
    workdir: Annotated[
        Path, typer.Option(help="state database, store secret, broker files, tokens.json")
    ] = Path("var/demo"),
    catalog_interval: Annotated[
        float, typer.Option(min=0.5, max=3600.0, help="seconds between HQ's catalog changes")
    ] = 3.0,
) -> None:
    """A whole simulated store: broker, controller, labels, shelf sensors, fitting rooms, HQ's
    catalog feed, web console."""
    if broker not in BROKERS:
        console.print(f"[red]--broker must be one of {', '.join(BROKERS)}[/]")
        raise typer.Exit(2)
    _quiet_logs()
    # A shell starting us in the background without job control ignores SIGINT; take it back,
    # so that `kill -INT` stops the demo as Ctrl-C does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _workers_ignore_sigint()
    try:
        asyncio.run(
            _run(
                workdir,
                port,
                labels,
                broker,
                seed,
                catalog_interval,
                sensors,
                fitting_rooms,
            )
        )
    except asyncio.CancelledError:
        console.print("demo stopped")  # SIGTERM
    except DemoError as exc:
        console.print(f"[red]omnishelf demo: {exc}[/]")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        console.print("demo stopped")
    except Exception as exc:  # a part of the store stopped (its controller, the simulator, ...)
        logging.getLogger("omnishelf.demo").exception("the demo stopped")
        console.print(f"[red]omnishelf demo stopped: {failure_reason(exc)}[/]")
        raise typer.Exit(EXIT_STOPPED) from exc


def main() -> None:
    typer.run(demo)
