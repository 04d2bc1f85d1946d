"""`omnishelf serve`: the store controller, configured from the environment, .env or a file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from controller.errors import ControllerError
from controller.service import running_controller
from controller.settings import Settings

console = Console(stderr=True)


def serve(
    api: Annotated[bool, typer.Option(help="serve the REST API and console too")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the store controller: catalog feed, rendering, pushes to labels, the REST API.

    Settings come from OMNISHELF_* variables or a .env file (see controller/settings.py); the
    store secret from OMNISHELF_STORE_SECRET or OMNISHELF_STORE_SECRET_FILE.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    try:
        settings = Settings()
        settings.secret()
    except ValidationError as exc:
        console.print(f"[red]invalid settings:[/]\n{exc}")
        raise typer.Exit(2) from exc
    except ControllerError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if api:
        import uvicorn  # noqa: PLC0415 - only the API needs it

        from controller.api.app import create_app  # noqa: PLC0415

        uvicorn.run(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="info" if verbose else "warning",
            # The console's live wall holds an SSE stream open; do not wait for it to end.
            timeout_graceful_shutdown=2,
        )
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_headless(settings))


async def _headless(settings: Settings) -> None:
    # SIGTERM (systemd, docker stop) stops like Ctrl-C: the render processes are shut down with
    # the controller instead of outliving it.
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_controller(settings) as controller:
        console.print(f"controller for store {controller.store} running; Ctrl-C stops")
        await stop.wait()
