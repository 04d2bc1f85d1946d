"""The store wall of a large store: one page, one live stream, no per-label requests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from controller.api import create_app
from controller.console.session import COOKIE
from controller.console.wall import wall_events
from controller.runtime import Controller
from controller.state.database import open_database, transaction
from controller.state.sessions_repo import open_session
from controller.state.tokens_repo import Role, create_token
from firmware_protocol.models import ModelId
from label_renderer.batch import BatchRenderer
from tests.controller.api.api_kit import T0, settings_for

LABELS = 1500


@pytest.fixture
async def big_store(
    tmp_path: Path, store_id: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Controller]]:
    """A console over 1,500 adopted labels on 10 aisles of 5 shelves (a constructed, idle
    controller: no broker), signed in as a viewer."""
    settings = settings_for(tmp_path, store_id)
    async with open_database(settings.state_db) as conn:
        async with transaction(conn):
            await conn.executemany(
                "INSERT INTO devices (device_id, model, gateway_id, adopted, online, location)"
                " VALUES (?, ?, 'gw-1', 1, 1, ?)",
                [
                    (
                        f"lbl-{n:05d}",
                        int(ModelId.EPD290_BWR),
                        f"Reyon {n % 10 + 1} / Raf {n % 5 + 1}",
                    )
                    for n in range(LABELS)
                ],
            )
        viewer, _ = await create_token(conn, "viewer", Role.VIEWER, at=T0, created_by="test")
        session = await open_session(conn, viewer, at=T0)
        controller = Controller(settings, conn, BatchRenderer(1), clock=lambda: T0)
        app = create_app(settings, controller=controller)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                client.cookies.set(COOKIE, session)
                yield client, controller


async def test_the_wall_of_1500_labels_is_one_quick_page(
    big_store: tuple[httpx.AsyncClient, Controller],
) -> None:
    """Every label is on the one page, grouped in 10 aisles, images lazy-loaded."""
    client, _ = big_store
    started = time.perf_counter()
    answer = await client.get("/")
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200
    page = answer.text
    assert page.count('<li class="tile') == LABELS
    assert page.count('loading="lazy"') == LABELS
    assert page.count('<section class="aisle"') == 10
    assert elapsed < 2.0, f"the wall took {elapsed:.2f} s"


async def test_the_live_stream_sends_only_what_changed(
    big_store: tuple[httpx.AsyncClient, Controller],
) -> None:
    """The stream opens with every label, then sends just the label whose state changed."""
    _, controller = big_store
    stream = wall_events(controller.conn, max_s=5)
    assert await anext(stream) == "retry: 1000\n\n"
    snapshot = await anext(stream)
    assert snapshot.count('"id"') == LABELS
    await controller.conn.execute("UPDATE devices SET online = 0 WHERE device_id = 'lbl-00042'")
    await controller.conn.commit()
    started = time.perf_counter()
    change = await anext(stream)
    assert time.perf_counter() - started < 2.0
    assert change.startswith("event: labels\n")
    assert change.count('"id"') == 1
    assert '"lbl-00042"' in change
    assert '"offline"' in change
    await stream.aclose()
