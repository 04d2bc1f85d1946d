"""Finding an item and changing its price as HQ would; the store wall shows the new image."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, Page, expect

from controller.catalog.items import CatalogItem
from controller.demo.stack import DemoStack
from controller.state.catalog_repo import get_item
from controller.state.devices_repo import binding_of
from controller.state.labels_repo import label_state
from tests.controller.console.console_kit import confirmed_hash

LABEL = "lbl-00003"


async def _item_of(demo: DemoStack, device_id: str) -> CatalogItem:
    binding = await binding_of(demo.controller.conn, device_id)
    assert binding is not None
    item = await get_item(demo.controller.conn, binding.sku)
    assert item is not None
    return item


async def test_search_by_name_and_by_gtin(staff: Page, demo: DemoStack) -> None:
    """The search finds an item by a part of its name and by its barcode."""
    item = await _item_of(demo, "lbl-00001")
    await staff.get_by_role("link", name="Items").click()
    await staff.get_by_label("Name, SKU or barcode (GTIN)").fill(item.name[:6])
    await staff.get_by_role("button", name="Search").click()
    await expect(staff.locator(".results")).to_contain_text(item.sku)
    assert item.gtin is not None
    await staff.get_by_label("Name, SKU or barcode (GTIN)").fill(item.gtin)
    await staff.keyboard.press("Enter")
    results = staff.locator(".results li")
    await expect(results).to_have_count(1)
    await results.first.get_by_role("link").click()
    await expect(staff.get_by_role("heading", level=1)).to_have_text(item.name)


async def test_a_price_change_reaches_the_label_on_the_store_wall(
    context: BrowserContext, staff: Page, demo: DemoStack
) -> None:
    """After a price change on the item page, the wall's image of that label changes within
    seconds, to the image the label reports with the new price."""
    before = await confirmed_hash(demo, LABEL)
    item = await _item_of(demo, LABEL)
    tile = staff.locator(f'.tile[data-label="{LABEL}"] img')
    await expect(tile).to_have_attribute("src", re.compile(f"v={before.hex()[:16]}"))
    png_before = await (await staff.request.get(await tile.get_attribute("src") or "")).body()

    editor = await context.new_page()
    await editor.goto(f"/items/{item.sku}")
    new_price = f"{item.price + 7:.2f}"
    await editor.get_by_label(f"New price ({item.currency})").fill(new_price)
    await editor.get_by_role("button", name="Change price").click()
    await expect(editor.get_by_role("status").first).to_have_text("Price changed.")
    await expect(editor.locator("#item-price")).to_contain_text(new_price)

    after = await confirmed_hash(demo, LABEL, within_s=15, other_than=before)
    await expect(tile).to_have_attribute("src", re.compile(f"v={after.hex()[:16]}"), timeout=5000)
    png_after = await (await staff.request.get(await tile.get_attribute("src") or "")).body()
    assert png_after != png_before
    state = await label_state(demo.controller.conn, LABEL)
    assert state is not None
    assert state.reported_hash == after
