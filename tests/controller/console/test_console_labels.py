"""A label's page: its images and the locate action."""

from __future__ import annotations

from playwright.async_api import Page, expect

from controller.demo.stack import DemoStack
from controller.state.audit_repo import audit_entries
from tests.controller.console.console_kit import confirmed_hash

LABEL = "lbl-00005"


async def test_locate_a_label_from_its_page(staff: Page, demo: DemoStack) -> None:
    """Locate flashes the label's LED (or queues it for a sleeping label) and says which."""
    await confirmed_hash(demo, LABEL)
    await staff.locator(f'.tile[data-label="{LABEL}"] a').click()
    await expect(staff.get_by_role("heading", level=1)).to_contain_text(LABEL)
    await expect(staff.get_by_alt_text(f"What {LABEL} displays")).to_be_visible()
    await expect(staff.get_by_alt_text(f"The image {LABEL} should show")).to_be_visible()
    await staff.get_by_role("button", name="Locate (flash LED)").click()
    await expect(staff.get_by_role("status").first).to_contain_text("LED")
    entries = await audit_entries(demo.controller.conn, target=f"label:{LABEL}")
    assert [e.action for e in entries][:1] == ["label.locate"]
    assert entries[0].actor == "staff"
    await expect(staff.locator("table.audit")).to_contain_text("label.locate")
