"""The console under real headless Chromium (Debian's package; no browser download) against the
stack `make demo` starts (`controller.demo.stack.running_demo`), with a small store."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from controller.api.rate_limits import EdgeLimits, Rate
from controller.demo.stack import DemoStack, running_demo
from tests.controller.console.console_kit import log_in

LABELS = 60
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is not installed: run scripts/install-system-deps")
    return found


@pytest.fixture(scope="package")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DemoStack]:
    """The demo stack with 60 labels; HQ stays quiet so that only the tests change prices.

    The package signs in some 40 times from one address: past the product's sign-in rate
    (a burst of 10, then 5 a minute) a sign-in is answered 429 and the test waits in vain for the
    home page, which happened on a fast CI machine. The throttle has its own tests
    (test_console_sessions.py).

    No simulated shelf sensors or fitting rooms: their shoppers would open and resolve alerts
    while the alerts page's tests count them (the demo's floor has its own test,
    tests/controller/demo/test_demo_floor_live.py)."""
    async with running_demo(
        tmp_path_factory.mktemp("demo"),
        labels=LABELS,
        sensors=0,
        fitting_rooms=0,
        catalog_interval_s=3600,
        workers=1,
        limits=EdgeLimits(login_per_address=Rate(per_s=10, burst=1000)),
    ) as stack:
        yield stack


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser, demo: DemoStack) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 900})
    made.set_default_timeout(10_000)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def staff(context: BrowserContext, demo: DemoStack) -> Page:
    """A page signed in with the staff token, on the store wall."""
    return await log_in(context, demo, "staff")
