"""`omnishelf broker`: a private Mosquitto (deploy/mosquitto/) provisioned for a simulated store.

It runs until Ctrl-C or SIGTERM, and stops its Mosquitto either way: SIGTERM is turned into the
same orderly exit as Ctrl-C (Python's default for SIGTERM ends the process at once, without
leaving the `with` block, and left Mosquitto listening: issue 12, finding 8).
"""

from __future__ import annotations

import secrets
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from controller.broker_config import TlsListener
from controller.local_broker import LocalBroker, free_port
from device_sim.behaviour import Behaviour
from device_sim.cli import read_secret
from device_sim.store import StoreSpec, build_store
from firmware_protocol.errors import ProtocolError
from firmware_protocol.topics import check_id

console = Console(stderr=True)


class _Terminated(Exception):
    """SIGTERM arrived."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise _Terminated


def _tls_listener(
    tls_dir: Path | None, tls_host: str, tls_port: int, require_certificate: bool
) -> TlsListener | None:
    if tls_dir is None:
        return None
    files = {name: tls_dir / name for name in ("ca.crt", "broker.crt", "broker.key")}
    missing = [str(path) for path in files.values() if not path.exists()]
    if missing:
        raise typer.BadParameter(
            f"missing {', '.join(missing)}: run omnishelf certs --out {tls_dir}",
            param_hint="--tls-dir",
        )
    return TlsListener(
        tls_port or free_port(),
        files["ca.crt"],
        files["broker.crt"],
        files["broker.key"],
        require_certificate=require_certificate,
        host=tls_host,
    )


def broker(
    store: Annotated[str, typer.Option(help="store id")] = "store-1",
    labels: Annotated[int, typer.Option(min=0, max=100_000)] = 100,
    sensors: Annotated[int, typer.Option(min=0, max=10_000)] = 0,
    fitting_rooms: Annotated[int, typer.Option(min=0, max=1_000)] = 0,
    access_points: Annotated[int, typer.Option(min=0, max=1_000)] = 0,
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: a free port")] = 0,
    workdir: Annotated[Path, typer.Option(help="its files and persistence")] = Path("var/broker"),
    secret_file: Annotated[Path | None, typer.Option()] = None,
    tls_dir: Annotated[
        Path | None, typer.Option(help="a TLS listener with the certificates of omnishelf certs")
    ] = None,
    tls_port: Annotated[int, typer.Option(min=0, max=65535, help="0: a free port")] = 0,
    tls_host: Annotated[
        str, typer.Option(help="the address the TLS listener binds (0.0.0.0: every interface)")
    ] = "127.0.0.1",
    require_certificate: Annotated[
        bool, typer.Option(help="TLS clients must present a certificate of the store CA")
    ] = False,
    tls_only: Annotated[bool, typer.Option(help="no plain-TCP listener")] = False,
) -> None:
    """Run a private Mosquitto (deploy/mosquitto/) provisioned for a simulated store."""
    try:
        check_id(store, "store id")
    except ProtocolError as exc:
        raise typer.BadParameter(str(exc), param_hint="--store") from exc
    if secret_file is not None and not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        secret_file.chmod(0o600)
        console.print(f"new store secret written to {secret_file}")
    if tls_only and tls_dir is None:
        raise typer.BadParameter("--tls-only needs --tls-dir", param_hint="--tls-only")
    secret = read_secret(secret_file)
    spec = StoreSpec(store, labels, sensors, fitting_rooms, access_points)
    clients = [gw.gateway_id for gw in build_store(spec, Behaviour())]
    tls = _tls_listener(tls_dir, tls_host, tls_port, require_certificate)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with LocalBroker(
            workdir, secret, port=port or None, stores=(store,), tls=tls, plain=not tls_only
        ) as running:
            running.add_clients(clients)
            urls = [running.url] if not tls_only else []
            if running.tls is not None:
                urls.append(running.tls_address().url)
            console.print(
                f"mosquitto (pid {running.pid}) on {' and '.join(urls)} with {len(clients)} "
                "device clients; Ctrl-C stops"
            )
            # A broker that died must end this command too, so that whoever supervises it
            # starts both again (it waited for Ctrl-C with no broker under it).
            while (status := running.exited(within_s=1.0)) is None:
                pass
            console.print(f"[red]mosquitto exited ({status}); see {running.log_file}[/]")
            raise typer.Exit(3)
    except (KeyboardInterrupt, _Terminated):
        console.print("stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)
