"""An API over a real SQLite state database and a constructed (not running) Controller, with
one token per role; `api.as_("staff")` gives that token's headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from controller.api import create_app
from controller.runtime import Controller
from controller.settings import Settings
from controller.state.database import open_database
from controller.state.tokens_repo import Role, create_token
from label_renderer.batch import BatchRenderer
from tests.controller.api.api_kit import T0, Api, settings_for


@pytest.fixture
def settings(tmp_path: Path, store_id: str) -> Settings:
    return settings_for(tmp_path, store_id)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app around a Controller that is constructed but not run: no broker is contacted."""
    async with open_database(settings.state_db) as conn:
        controller = Controller(settings, conn, BatchRenderer(1), clock=lambda: T0)
        app = create_app(settings, controller=controller)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                api = Api(client, controller)
                for role in Role:
                    _, secret = await create_token(conn, role.value, role, at=T0, created_by="test")
                    api.tokens[role.value] = secret
                yield api
