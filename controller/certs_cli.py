"""`omnishelf certs`: a store's CA, the broker's certificate and clients' certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broker_access.credentials import catalog_user, controller_user, hq_user
from controller.certificates import ensure_ca, issue_broker, issue_client
from firmware_protocol.errors import ProtocolError

console = Console(stderr=True)


def certs(
    out: Annotated[Path, typer.Option(help="directory of the CA, keys and certificates")] = Path(
        "var/certs"
    ),
    store: Annotated[str, typer.Option(help="store id")] = "store-1",
    host: Annotated[
        list[str] | None,
        typer.Option(help="a name or address of the broker besides 127.0.0.1 and localhost"),
    ] = None,
    client: Annotated[
        list[str] | None, typer.Option(help="a client certificate for this username (repeatable)")
    ] = None,
    service_accounts: Annotated[
        bool, typer.Option(help="client certificates for the controller's sessions and HQ")
    ] = True,
) -> None:
    """Make the store CA (once), the broker's certificate and client certificates, for
    `omnishelf broker --tls-dir` and mqtts:// clients (OMNISHELF_BROKER_CA_FILE, ...)."""
    usernames = list(client or [])
    if service_accounts:
        usernames += [controller_user(store), catalog_user(store), hq_user(store)]
    try:
        ca = ensure_ca(out, store)
        broker = issue_broker(out, tuple(host or ()))
        clients = [issue_client(out, name) for name in dict.fromkeys(usernames)]
    except ProtocolError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"store CA: {ca.cert_file} (its key {ca.key_file}: keep it off the broker)")
    console.print(f"broker: {broker.cert_file}, {broker.key_file}")
    for issued in clients:
        console.print(f"client: {issued.cert_file}, {issued.key_file}")
