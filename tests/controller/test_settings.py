"""Controller settings come from the environment and .env; secrets are never defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.errors import ControllerError
from controller.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No OMNISHELF_* from the machine, and no .env from the working directory."""
    for key in list(os.environ):
        if key.startswith("OMNISHELF_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_environment_overrides_defaults(monkeypatch):
    """OMNISHELF_* variables set the fields."""
    monkeypatch.setenv("OMNISHELF_STORE_ID", "ist-kadikoy")
    monkeypatch.setenv("OMNISHELF_HTTP_PORT", "8123")
    settings = Settings()
    assert (settings.store_id, settings.http_port) == ("ist-kadikoy", 8123)


def test_dotenv_file_is_read(tmp_path):
    """A .env in the working directory is read."""
    (tmp_path / ".env").write_text("OMNISHELF_LOCALE=az-AZ\n", encoding="utf-8")
    assert Settings().locale == "az-AZ"


def test_no_secret_is_an_error_naming_both_variables():
    """Without a configured secret, asking for it says how to set one."""
    with pytest.raises(ControllerError, match="OMNISHELF_STORE_SECRET_FILE"):
        Settings().secret()


def test_secret_from_file_and_not_both(monkeypatch, tmp_path):
    """The secret file is read and stripped; setting both sources is refused."""
    path = tmp_path / "secret"
    path.write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("OMNISHELF_STORE_SECRET_FILE", str(path))
    assert Settings().secret() == "s3cret"
    monkeypatch.setenv("OMNISHELF_STORE_SECRET", "other")
    with pytest.raises(ValidationError, match="not both"):
        Settings()


def test_secret_is_hidden_in_repr(monkeypatch):
    """The secret never appears when settings are printed or logged."""
    monkeypatch.setenv("OMNISHELF_STORE_SECRET", "topsecret")
    assert "topsecret" not in repr(Settings())


def test_invalid_values_are_refused(monkeypatch):
    """A bad store id or port is a validation error naming the field."""
    monkeypatch.setenv("OMNISHELF_STORE_ID", "Bad Store")
    with pytest.raises(ValidationError, match="store_id"):
        Settings()


def test_unreadable_secret_file(monkeypatch, tmp_path):
    """A missing secret file is reported with its path."""
    monkeypatch.setenv("OMNISHELF_STORE_SECRET_FILE", str(Path(tmp_path / "nope")))
    with pytest.raises(ControllerError, match="nope"):
        Settings().secret()


def test_the_state_database_cap_is_in_megabytes_and_positive(monkeypatch):
    """OMNISHELF_STATE_DB_MAX_MB: unset by default (only the disk limits the database); zero or
    a negative cap is refused."""
    assert Settings().state_db_max_mb is None
    monkeypatch.setenv("OMNISHELF_STATE_DB_MAX_MB", "0")
    with pytest.raises(ValidationError, match="state_db_max_mb"):
        Settings()
    monkeypatch.setenv("OMNISHELF_STATE_DB_MAX_MB", "512")
    assert Settings().state_db_max_mb == 512
