"""Helpers of the console tests: signing in, waiting for a label to show its image."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import BrowserContext, Page

from controller.demo.stack import DemoStack
from controller.state.labels_repo import label_state


async def log_in(context: BrowserContext, demo: DemoStack, role: str) -> Page:
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("API token").fill(demo.tokens[role])
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{demo.url}/")
    return page


async def confirmed_hash(
    demo: DemoStack, device_id: str, within_s: float = 30.0, *, other_than: bytes | None = None
) -> bytes:
    """The content hash the label reports once it shows its desired image (one other than
    `other_than`: a change is rendered after the page that made it has answered)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        state = await label_state(demo.controller.conn, device_id)
        if (
            state is not None
            and state.desired_hash
            and state.reported_hash == state.desired_hash
            and state.desired_hash != other_than
        ):
            return state.desired_hash
        await asyncio.sleep(0.1)
    raise AssertionError(f"{device_id} did not show its desired image within {within_s} s")
