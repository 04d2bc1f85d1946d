"""`omnishelf token create|list|revoke`: API tokens on the state database of `Settings()`.

The first admin token has to come from here (the API only lets admins create tokens). A token's
secret is printed once, on stdout, so that it can be piped into a secrets store; everything else
goes to stderr. Each command is in the audit log with the actor "cli:<user>".
"""

from __future__ import annotations

import asyncio
import getpass
import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from controller.errors import ControllerError
from controller.settings import Settings
from controller.state.audit_repo import append_audit
from controller.state.database import open_database, transaction
from controller.state.tokens_repo import (
    NAME_PATTERN,
    ApiToken,
    Role,
    create_token,
    list_tokens,
    revoke_token,
)

token_app = typer.Typer(no_args_is_help=True, help="API tokens: create, list, revoke")
console = Console(stderr=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


async def _create(settings: Settings, name: str, role: Role) -> str:
    now = datetime.now(UTC)
    async with open_database(settings.state_db) as conn, transaction(conn):
        _, secret = await create_token(conn, name, role, at=now, created_by=_actor())
        await append_audit(
            conn,
            at=now,
            actor=_actor(),
            action="token.create",
            target=f"token:{name}",
            detail={"role": role.value},
        )
    return secret


async def _list(settings: Settings) -> list[ApiToken]:
    async with open_database(settings.state_db) as conn:
        return await list_tokens(conn)


async def _revoke(settings: Settings, name: str) -> bool:
    now = datetime.now(UTC)
    async with open_database(settings.state_db) as conn, transaction(conn):
        if not await revoke_token(conn, name, at=now):
            return False
        await append_audit(
            conn, at=now, actor=_actor(), action="token.revoke", target=f"token:{name}"
        )
    return True


@token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="who uses it; the actor in the audit log")],
    role: Annotated[Role, typer.Option(help="viewer < staff < admin")] = Role.STAFF,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    if not re.fullmatch(NAME_PATTERN, name):
        console.print(f"[red]{name!r}: letters, digits and . _ @ - only, at most 64[/red]")
        raise typer.Exit(2)
    try:
        secret = asyncio.run(_create(Settings(), name, role))
    except ControllerError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"token {name!r} ({role}) created; it is shown this once:")
    typer.echo(secret)


@token_app.command("list")
def list_() -> None:
    """Every token with its role, creator and revocation (never the secrets)."""
    table = Table("name", "role", "created", "by", "revoked")
    for token in asyncio.run(_list(Settings())):
        revoked = token.revoked_at.isoformat(timespec="seconds") if token.revoked_at else ""
        table.add_row(
            token.name,
            token.role,
            token.created_at.isoformat(timespec="seconds"),
            token.created_by,
            revoked,
        )
    Console().print(table)


@token_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke a token: requests with it are refused (401) from now on."""
    if not asyncio.run(_revoke(Settings(), name)):
        console.print(f"[red]no active token {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"token {name!r} revoked")
