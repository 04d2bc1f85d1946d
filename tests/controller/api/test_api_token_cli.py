"""`omnishelf token create|list|revoke` on the state database named by the settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.api.token_cli import token_app
from controller.state.audit_repo import audit_entries
from controller.state.database import open_database
from controller.state.tokens_repo import token_for


def test_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """create prints a working token once; list never shows it; revoke makes it unknown."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    db = tmp_path / "state.db"
    monkeypatch.setenv("OMNISHELF_STATE_DB", str(db))
    runner = CliRunner()

    created = runner.invoke(token_app, ["create", "first-admin", "--role", "admin"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]

    async def lookup() -> tuple[str | None, list[str]]:
        async with open_database(db) as conn:
            token = await token_for(conn, secret)
            actions = [e.action for e in await audit_entries(conn, target="token:first-admin")]
        return (token.role.value if token else None), actions

    assert asyncio.run(lookup()) == ("admin", ["token.create"])
    listed = runner.invoke(token_app, ["list"])
    assert "first-admin" in listed.stdout
    assert secret not in listed.stdout
    assert runner.invoke(token_app, ["create", "first-admin"]).exit_code == 1
    assert runner.invoke(token_app, ["create", "no spaces"]).exit_code == 2

    assert runner.invoke(token_app, ["revoke", "first-admin"]).exit_code == 0
    assert asyncio.run(lookup()) == (None, ["token.revoke", "token.create"])
    assert runner.invoke(token_app, ["revoke", "first-admin"]).exit_code == 1
