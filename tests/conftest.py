"""Shared fixtures: a private Mosquitto per test session, a unique store id per test."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.local_broker import LocalBroker

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real Mosquitto started from deploy/mosquitto/ on a free port."""
    workdir: Path = tmp_path_factory.mktemp("mosquitto")
    with LocalBroker(workdir, secrets.token_urlsafe(24)) as running:
        yield running


@pytest.fixture
def store_id() -> str:
    """A store id no other test uses, so each test has its own topic prefix."""
    return f"t{next(_counter)}x{secrets.token_hex(3)}"
