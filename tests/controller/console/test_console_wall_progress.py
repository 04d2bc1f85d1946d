"""The store wall's progress line: while linked labels are unconfirmed the live stream sends
counts and an estimate of the time left; once all are confirmed it sends an empty line."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from playwright.async_api import BrowserContext, Page, expect

from controller.console.wall import wall_events
from controller.demo.stack import DemoStack
from controller.state.catalog_repo import get_item
from controller.state.database import open_database, transaction
from controller.state.devices_repo import binding_of
from firmware_protocol.models import ModelId

LABELS = 40
LABEL = "lbl-00003"  # an item without a promotion: a new price is a new image
H = b"\x07" * 16


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """40 adopted labels linked to an item, nothing rendered yet, and one unlinked label."""
    async with open_database(tmp_path / "state.db") as conn:
        async with transaction(conn):
            await conn.executemany(
                "INSERT INTO devices (device_id, model, gateway_id, adopted, online)"
                " VALUES (?, ?, 'gw-1', 1, 1)",
                [(f"lbl-{n:05d}", int(ModelId.EPD290_BWR)) for n in range(LABELS + 1)],
            )
            await conn.executemany(
                "INSERT INTO bindings (device_id, sku, linked_at, linked_by)"
                " VALUES (?, 'sku-1', '2026-01-01T00:00:00+00:00', 'test')",
                [(f"lbl-{n:05d}",) for n in range(LABELS)],
            )
        yield conn


def _progress(event: str) -> str:
    assert event.startswith("event: progress\n"), event
    return str(json.loads(event.split("data: ", 1)[1])["text"])


async def _render_and_confirm(conn: aiosqlite.Connection, rendered: int, confirmed: int) -> None:
    async with transaction(conn):
        await conn.executemany(
            "INSERT OR REPLACE INTO label_state (device_id, desired_revision, desired_hash,"
            " reported_revision, reported_hash) VALUES (?, 1, ?, ?, ?)",
            [
                (f"lbl-{n:05d}", H, 1 if n < confirmed else 0, H if n < confirmed else None)
                for n in range(rendered)
            ],
        )


async def test_the_stream_reports_progress_until_every_label_is_confirmed(
    store: aiosqlite.Connection,
) -> None:
    """Opening: 0 of the 40 linked labels (the unlinked one does not count); as labels render
    and confirm, the counts and then an estimate; all confirmed: an empty line."""
    stream = wall_events(store, max_s=20)
    assert await anext(stream) == "retry: 1000\n\n"
    assert (await anext(stream)).startswith("event: labels\n")
    opening = _progress(await anext(stream))
    assert opening == "0 / 40 labels confirmed (0 rendered), time left unknown"

    await _render_and_confirm(store, rendered=20, confirmed=0)
    assert (await anext(stream)).startswith("event: labels\n")
    rendering = _progress(await anext(stream))
    assert rendering.startswith("0 / 40 labels confirmed (20 rendered), ~")
    assert rendering.endswith(" left")

    await _render_and_confirm(store, rendered=40, confirmed=40)
    assert (await anext(stream)).startswith("event: labels\n")
    assert _progress(await anext(stream)) == ""
    await stream.aclose()


async def test_the_wall_page_shows_the_line_while_labels_converge(
    context: BrowserContext, staff: Page, demo: DemoStack
) -> None:
    """In Chromium: a price change makes its labels stale; the wall shows "N / 60 labels
    confirmed ..." until they report the new image, then hides the line."""
    async with asyncio.timeout(60):  # the package's demo store may still be converging
        while await demo.confirmed() < demo.labels:  # noqa: ASYNC110 - a database count
            await asyncio.sleep(0.2)
    await staff.reload()
    binding = await binding_of(demo.controller.conn, LABEL)
    assert binding is not None
    item = await get_item(demo.controller.conn, binding.sku)
    assert item is not None
    line = staff.locator("#progress")
    await expect(staff.locator("#live")).to_have_text("Live")
    await expect(line).to_be_hidden()

    editor = await context.new_page()
    await editor.goto(f"/items/{item.sku}")
    await editor.get_by_label(f"New price ({item.currency})").fill(f"{item.price + 3:.2f}")
    await editor.get_by_role("button", name="Change price").click()
    await expect(line).to_have_text(re.compile(r"^\d+ / 60 labels confirmed"), timeout=10_000)
    await expect(line).to_be_hidden(timeout=20_000)
