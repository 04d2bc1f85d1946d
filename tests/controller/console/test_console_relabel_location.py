"""The console's relabel of an aisle or shelf: the count first, then the confirmed action."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.settings import Settings
from tests.controller.api.api_kit import Api, open_api, seed_shelves, settings_for


@pytest.fixture
async def api(tmp_path: Path, store_id: str) -> AsyncIterator[Api]:
    """The app around an idle controller with labels on aisles 1, 10 and 15, staff signed in."""
    settings: Settings = settings_for(tmp_path, store_id)
    async with open_api(settings) as opened:
        await seed_shelves(opened)
        signed_in = await opened.client.post("/login", data={"token": opened.tokens["staff"]})
        assert signed_in.status_code == 303
        yield opened


async def _queued(api: Api) -> int:
    async with api.controller.conn.execute("SELECT COUNT(*) FROM render_queue") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found[1]


async def test_finding_8_the_console_shows_the_count_before_relabelling(api: Api) -> None:
    """The wall links aisle 1 to a page that counts its 3 labels; confirming relabels those 3."""
    wall = await api.client.get("/")
    assert 'href="/relabel?location=Reyon%201"' in wall.text
    page = await api.client.get("/relabel", params={"location": "Reyon 1"})
    assert page.status_code == 200
    assert "<strong>3</strong> linked labels" in page.text
    assert 'name="expected" value="3"' in page.text
    assert await _queued(api) == 0  # counting queued nothing

    done = await api.client.post(
        "/relabel", data={"csrf": _csrf(page.text), "location": "Reyon 1", "expected": "3"}
    )
    assert done.status_code == 303
    shown = await api.client.get(done.headers["location"])
    assert "Relabel queued for 3 labels." in shown.text
    assert await _queued(api) == 3


async def test_a_changed_count_asks_again(api: Api) -> None:
    """A confirmation for another count than the labels there now does nothing: 409."""
    page = await api.client.get("/relabel", params={"location": "Reyon 1"})
    answer = await api.client.post(
        "/relabel", data={"csrf": _csrf(page.text), "location": "Reyon 1", "expected": "5"}
    )
    assert answer.status_code == 409
    assert "changed" in answer.text
    assert await _queued(api) == 0
