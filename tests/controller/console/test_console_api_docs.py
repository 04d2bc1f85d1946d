"""The API docs (/docs) render in real headless Chromium with no network beyond the controller
(issue 12, finding 5: they loaded Swagger UI and ReDoc from a CDN, blank in a store offline)."""

from __future__ import annotations

from playwright.async_api import BrowserContext, ConsoleMessage, Route, expect

from controller.demo.stack import DemoStack


async def test_finding_5_api_docs_render_without_internet(
    context: BrowserContext, demo: DemoStack
) -> None:
    """Every request /docs makes goes to the controller (others are cut off), and Swagger UI
    shows the API's operations; the page's CSP blocks nothing it needs."""
    elsewhere: list[str] = []

    async def only_the_controller(route: Route) -> None:
        if route.request.url.startswith(demo.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_controller)
    page = await context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    await page.goto("/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("omnishelf controller")
    await expect(page.get_by_text("/api/v1/items/{sku}").first).to_be_visible()
    assert elsewhere == []
    assert problems == []
    assert (await page.request.get("/redoc")).status == 404  # not offered: no local ReDoc
