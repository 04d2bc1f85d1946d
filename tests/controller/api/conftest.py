"""An API over a real SQLite state database and a constructed (not running) Controller, with
one token per role; `api.as_("staff")` gives that token's headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.settings import Settings
from tests.controller.api.api_kit import Api, open_api, settings_for


@pytest.fixture
def settings(tmp_path: Path, store_id: str) -> Settings:
    return settings_for(tmp_path, store_id)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app around a Controller that is constructed but not run: no broker is contacted."""
    async with open_api(settings) as opened:
        yield opened


@pytest.fixture
async def shelf_api(tmp_path: Path, store_id: str) -> AsyncIterator[Api]:
    """The API of a store that adopts shelf sensors ("shelf-*") as well as labels."""
    async with open_api(settings_for(tmp_path, store_id, adopt=("lbl-*", "shelf-*"))) as opened:
        yield opened
