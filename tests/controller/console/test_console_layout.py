"""The console on a phone: usable at 390 px wide, with no horizontal scroll."""

from __future__ import annotations

from playwright.async_api import Browser

from controller.demo.stack import DemoStack
from tests.controller.console.console_kit import log_in


async def test_no_horizontal_scroll_at_390_px(browser: Browser, demo: DemoStack) -> None:
    """Every main page fits a 390x844 viewport: the document is never wider than the screen;
    and no page logs an error (a Content-Security-Policy violation would)."""
    context = await browser.new_context(base_url=demo.url, viewport={"width": 390, "height": 844})
    try:
        login = await context.new_page()
        await login.goto("/login")
        widths = {"/login": await login.evaluate("document.documentElement.scrollWidth")}
        page = await log_in(context, demo, "staff")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for path in (
            "/",
            "/items?q=",
            "/items/TR-000001",
            "/labels/lbl-00001",
            "/problems",
            "/problems?kind=unconfirmed",
            "/sensors",
            "/audit",
        ):
            await page.goto(path)
            widths[path] = await page.evaluate("document.documentElement.scrollWidth")
    finally:
        await context.close()
    assert {path: w for path, w in widths.items() if w > 390} == {}
    assert errors == []
