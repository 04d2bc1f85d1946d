"""`omnishelf serve`: the store controller, configured from the environment, .env or a file.

Exit statuses, for the supervisor (systemd's Restart=on-failure, a container's restart policy):
0 stopped by Ctrl-C or SIGTERM; 2 refused to start (settings, a state database another process
owns, a taken port); 3 the controller stopped on its own (a full disk, a stage that failed, the
broker not reachable at start) and should be restarted. A controller that cannot work exits: it
never stays up answering errors (the API's 500 "no active connection" on every call).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from controller.api.app import create_app
from controller.errors import ControllerError
from controller.http_server import EmbeddedServer, listen_socket
from controller.runtime import Controller
from controller.service import EXIT_STOPPED, failure_reason, running_controller
from controller.settings import Settings

console = Console(stderr=True)
log = logging.getLogger("omnishelf.serve")

EXIT_REFUSED = 2


def serve(
    api: Annotated[bool, typer.Option(help="serve the REST API and console too")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the store controller: catalog feed, rendering, pushes to labels, the REST API.

    Settings come from OMNISHELF_* variables or a .env file (see controller/settings.py); the
    store secret from OMNISHELF_STORE_SECRET or OMNISHELF_STORE_SECRET_FILE. Exits 3 when the
    controller stops on its own (restart it), 2 when it refuses to start.
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
        raise typer.Exit(EXIT_REFUSED) from exc
    except ControllerError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(EXIT_REFUSED) from exc
    try:
        asyncio.run(_serve(settings, api=api, verbose=verbose))
    except ControllerError as exc:  # refused before anything ran
        console.print(f"[red]omnishelf serve: {exc}[/]")
        raise typer.Exit(EXIT_REFUSED) from exc
    except Exception as exc:  # the controller's TaskGroup ended: say why, then exit for a restart
        log.exception("the controller stopped")
        log.critical(
            "omnishelf serve: the controller stopped (%s); exiting with status %d so that a "
            "supervisor restarts it",
            failure_reason(exc),
            EXIT_STOPPED,
        )
        raise typer.Exit(EXIT_STOPPED) from exc


async def _serve(settings: Settings, *, api: bool, verbose: bool) -> None:
    # Ctrl-C and SIGTERM (systemd, docker stop) stop in order: the web server, then the
    # controller and its render processes.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Bound first: a taken port is refused before the controller starts.
    sock = listen_socket(settings.http_port, settings.http_host) if api else None
    try:
        async with running_controller(settings) as controller:
            log.info("controller for store %s running; Ctrl-C stops", controller.store)
            if sock is None:
                await stop.wait()
            else:
                await _serve_api(settings, controller, sock, stop, verbose=verbose)
    finally:
        if sock is not None:
            sock.close()


async def _serve_api(
    settings: Settings,
    controller: Controller,
    sock: socket.socket,
    stop: asyncio.Event,
    *,
    verbose: bool,
) -> None:
    """The REST API and console until `stop`; if the controller fails first, its TaskGroup
    cancels this (running_controller) and the server goes with it."""
    server = EmbeddedServer(
        uvicorn.Config(
            create_app(settings, controller=controller),
            log_level="info" if verbose else "warning",
            lifespan="on",
            # The console's live wall holds an SSE stream open; do not wait for it to end.
            timeout_graceful_shutdown=2,
        )
    )
    log.info("API and console on http://%s:%d", settings.http_host, sock.getsockname()[1])
    async with asyncio.TaskGroup() as tasks:
        web = tasks.create_task(server.serve(sockets=[sock]), name="http")
        stopping = tasks.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({web, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stopping.cancel()
