"""The problem lists and their filters."""

from __future__ import annotations

from playwright.async_api import Page, expect

from controller.demo.stack import DemoStack
from device_sim.gateway import Gateway

LABEL = "lbl-00007"


async def test_an_offline_label_is_listed_under_offline_and_not_failed(
    staff: Page, demo: DemoStack
) -> None:
    """A label that goes offline shows up in the offline list, not in the failed one, and can be
    selected for a bulk relabel."""

    def go_offline(gateway: Gateway, now: float) -> list:  # type: ignore[type-arg]
        return gateway.go_offline(LABEL, now, 3600)

    demo.simulator.act(LABEL, go_offline)
    await staff.get_by_role("link", name="Problems").click()
    row = staff.locator(f'tr[data-label-row="{LABEL}"]')
    for _ in range(50):
        await staff.goto("/problems?kind=offline")
        if await row.count():
            break
        await staff.wait_for_timeout(200)
    await expect(row).to_contain_text("offline")
    await staff.get_by_role("link", name="Failed updates").click()
    await expect(staff.get_by_role("heading", level=2)).to_contain_text("Failed updates")
    await expect(row).to_have_count(0)
    await staff.get_by_role("link", name="Offline").click()
    await staff.get_by_label(f"Select {LABEL}").check()
    await staff.get_by_role("button", name="Relabel selected").click()
    await expect(staff.get_by_role("status").first).to_contain_text("Relabel queued for 1 labels")
