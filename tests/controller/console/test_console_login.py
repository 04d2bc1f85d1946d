"""Signing in to the console, and what each role may do."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, expect

from controller.demo.stack import DemoStack
from tests.controller.console.console_kit import log_in


async def test_every_page_needs_a_login_and_a_wrong_token_is_refused(
    context: BrowserContext, demo: DemoStack
) -> None:
    """An anonymous visit goes to /login; a wrong token stays there with an error; a right one
    comes back to the page asked for."""
    page = await context.new_page()
    await page.goto("/problems")
    await expect(page).to_have_url(f"{demo.url}/login?next=%2Fproblems")
    await page.get_by_label("API token").fill("not-a-token")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
    assert "/login" in page.url
    await page.get_by_label("API token").fill(demo.tokens["staff"])
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{demo.url}/problems")
    cookie = next(c for c in await context.cookies() if c["name"] == "omnishelf_console")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"


async def test_log_out_ends_the_session(staff: Page, demo: DemoStack) -> None:
    """After logging out, the wall asks for a login again."""
    await staff.get_by_role("button", name="Log out").click()
    await expect(staff).to_have_url(f"{demo.url}/login")
    await staff.goto("/")
    assert "/login" in staff.url


async def test_a_viewer_cannot_relabel(context: BrowserContext, demo: DemoStack) -> None:
    """A viewer sees the action buttons disabled, and the server refuses the request anyway."""
    viewer = await log_in(context, demo, "viewer")
    await viewer.goto("/labels/lbl-00002")
    await expect(viewer.get_by_role("button", name="Relabel")).to_be_disabled()
    await expect(viewer.get_by_role("button", name="Locate (flash LED)")).to_be_disabled()
    csrf = await viewer.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = await viewer.request.post(
        "/labels/lbl-00002/relabel", form={"csrf": csrf or ""}, max_redirects=0
    )
    assert answer.status == 403


async def test_an_action_without_the_csrf_token_is_refused(staff: Page) -> None:
    """The session cookie alone is not enough to change anything."""
    answer = await staff.request.post("/labels/lbl-00002/relabel", form={}, max_redirects=0)
    assert answer.status == 403
    assert "CSRF" in await answer.text()


async def test_logging_in_works_with_the_keyboard_alone(
    context: BrowserContext, demo: DemoStack
) -> None:
    """The first Tab reaches the skip link; the token field has the focus; Enter logs in."""
    page = await context.new_page()
    await page.goto("/login")
    await expect(page.get_by_label("API token")).to_be_focused()
    await page.keyboard.type(demo.tokens["viewer"])
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{demo.url}/")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
