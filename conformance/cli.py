"""`omnishelf conformance`: check one device implementation against PROTOCOL.md.

Exit status: 0 every scenario passed or was skipped, 1 at least one failed, 2 the check could
not run (usage, broker, credentials, a lost connection).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broker_access.address import BrokerAddress
from broker_access.errors import BrokerAccessError
from conformance.runner import NAMES, Report, ScenarioResult, run_conformance, select
from conformance.session import ConformanceError
from firmware_protocol.errors import ProtocolError
from firmware_protocol.topics import check_id

console = Console(stderr=True)

EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2
SECRET_ENV = "OMNISHELF_STORE_SECRET"  # noqa: S105 - names of variables, not secrets
SECRET_FILE_ENV = "OMNISHELF_STORE_SECRET_FILE"  # noqa: S105


def _store_secret(secret_file: Path | None) -> str:
    """As the controller reads it (controller/settings.py): a file, or the environment; never
    a command-line value, which other users could read in the process list."""
    path = secret_file
    if path is None and os.environ.get(SECRET_FILE_ENV):
        path = Path(os.environ[SECRET_FILE_ENV])
    if path is not None:
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {path}: {exc.strerror}", param_hint="--secret-file"
            ) from exc
    else:
        secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise typer.BadParameter(
            f"give --secret-file, or set ${SECRET_ENV} or ${SECRET_FILE_ENV}",
            param_hint="--secret-file",
        )
    return secret


def conformance(
    store: Annotated[str, typer.Option(help="store id")],
    device: Annotated[str, typer.Option(help="the device id to check (a label)")],
    broker: Annotated[
        str, typer.Option(help="mqtt://host:port, or mqtts://host:port for TLS")
    ] = "mqtt://127.0.0.1:1883",
    ca_file: Annotated[Path | None, typer.Option(help="the store CA (mqtts://)")] = None,
    cert_file: Annotated[Path | None, typer.Option(help="client certificate (mqtts://)")] = None,
    key_file: Annotated[Path | None, typer.Option(help="its key")] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            "--store-secret-file",
            help=f"the store secret; else ${SECRET_ENV} or ${SECRET_FILE_ENV}",
        ),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help=f"run only these (repeatable): {', '.join(NAMES)}"),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results")] = None,
    timeout_scale: Annotated[
        float, typer.Option(min=0.1, max=100.0, help="multiply every timeout (slow links)")
    ] = 1.0,
) -> None:
    """Check a device implementation against PROTOCOL.md, playing the store controller's side.

    It connects with the store's controller account: STOP THE STORE'S CONTROLLER first (the
    broker lets one session per account in; they would take it from each other). Per scenario it
    prints PASS, FAIL or SKIP, the clause checked and a detail. It writes the device's retained
    Desired (test images) and reboots the device once. Exit 0: nothing failed; 1: a scenario
    failed; 2: the check could not run.
    """
    try:
        select(scenario)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scenario") from exc
    for value, hint in ((store, "--store"), (device, "--device")):
        try:
            check_id(value, hint.removeprefix("--") + " id")
        except ProtocolError as exc:
            raise typer.BadParameter(str(exc), param_hint=hint) from exc
    try:
        address = BrokerAddress.parse(
            broker, ca_file=ca_file, cert_file=cert_file, key_file=key_file
        )
    except BrokerAccessError as exc:
        raise typer.BadParameter(str(exc), param_hint="--broker") from exc
    secret = _store_secret(secret_file)
    console.print(f"omnishelf conformance: device {device} of store {store} at {address.url}")
    try:
        report = asyncio.run(
            run_conformance(
                address,
                store,
                device,
                secret,
                scenarios=scenario,
                timeout_scale=timeout_scale,
                on_result=_print,
            )
        )
    except ConformanceError as exc:
        console.print(f"[red]omnishelf conformance: {exc}[/]")
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    _summary(report)
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def _print(result: ScenarioResult) -> None:
    typer.echo(result.line())


def _summary(report: Report) -> None:
    counts = {
        o: sum(r.outcome.value == o for r in report.results) for o in ("PASS", "FAIL", "SKIP")
    }
    console.print(
        f"{report.device} ({report.model or 'unknown model'} via {report.gateway or '?'}): "
        f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
        f"in {report.duration_s:.1f} s"
    )
