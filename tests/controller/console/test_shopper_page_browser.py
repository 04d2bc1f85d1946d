"""The shoppers' page behind a label's QR code on a phone (390 px) and a desktop (1280 px) in real
Chromium: its content, one request, no console error, no sideways scroll; and the scans it
records counted on the console's item and items pages."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, ConsoleMessage, Page, Request, expect

from controller.catalog.items import CatalogItem
from controller.catalog.labels import label_content
from controller.demo.stack import DemoStack
from controller.state.catalog_repo import get_item
from controller.state.devices_repo import binding_of, device
from label_renderer.content import PriceKind
from label_renderer.locales import format_money
from tests.controller.console.console_kit import log_in

# Labels of the demo that the other console tests leave alone.
CANDIDATES = [f"lbl-{n:05d}" for n in range(59, 39, -1)]
STYLE = "SHOPPER-TEST"


async def _promoted_label(demo: DemoStack) -> tuple[str, CatalogItem]:
    """A label whose item is on a real reduction (a prior price to show), else the first one."""
    context = demo.controller.render_stage.context
    first: tuple[str, CatalogItem] | None = None
    for device_id in CANDIDATES:
        binding = await binding_of(demo.controller.conn, device_id)
        item = None if binding is None else await get_item(demo.controller.conn, binding.sku)
        if item is None:
            continue
        first = first or (device_id, item)
        content = label_content(item, context, demo.controller.clock())
        if content.kind is not PriceKind.NORMAL and content.prior_price is not None:
            return device_id, item
    assert first is not None
    return first


async def _with_variants(demo: DemoStack, item: CatalogItem) -> None:
    """The item becomes size "M" of a test style with two more variants, through the API (the
    demo's catalog itself is left as it is)."""
    headers = {"Authorization": f"Bearer {demo.tokens['staff']}"}
    family = {"style": STYLE, "colour": "Lacivert", "collection": "Test"}
    bodies: list[dict[str, Any]] = [
        item.model_dump(mode="json", exclude_none=True)
        | {
            "version": None if item.version is None else item.version + 1,
            "family": family | {"size": "M"},
        },
        {
            "sku": f"{item.sku}-L",
            "name": item.name,
            "currency": item.currency,
            "price": str(item.price),
            "stock": {"quantity": 3},
            "family": family | {"size": "L"},
        },
        {
            "sku": f"{item.sku}-XL",
            "name": item.name,
            "currency": item.currency,
            "price": str(item.price),
            "stock": {"quantity": 0, "online_available": True},
            "family": family | {"size": "XL"},
        },
    ]
    async with httpx.AsyncClient(base_url=demo.url, headers=headers) as client:
        for body in bodies:
            answer = await client.put(f"/api/v1/items/{body['sku']}", json=body)
            assert answer.status_code == 200, answer.text


async def _open(browser: Browser, demo: DemoStack, path: str, width: int) -> tuple[Page, Any]:
    """The page at `width` px, with the requests it made and the console errors it logged."""
    context = await browser.new_context(
        base_url=demo.url, viewport={"width": width, "height": 844 if width < 600 else 900}
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    seen: dict[str, list[str]] = {"requests": [], "errors": []}

    def on_request(request: Request) -> None:
        seen["requests"].append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            seen["errors"].append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    answer = await page.goto(path)
    assert answer is not None
    assert answer.status == 200
    await page.wait_for_load_state("load")
    return page, seen


async def test_a_shopper_scans_a_label_on_a_phone_and_staff_sees_the_count(
    browser: Browser, demo: DemoStack
) -> None:
    """At 390 px: the item's name, price (and prior price on a reduction), unit price, where it
    hangs, its reviews and its other sizes with stock, from one request, with its style applied
    (the CSP's hash holds), no console error and nothing wider than the screen; the same at
    1280 px. A tap on another size opens its page, a look from this item. The console's item
    page then counts the three scans and the look, the items page lists the item among the most
    scanned, its aisle among the scans per aisle and the look."""
    device_id, item = await _promoted_label(demo)
    await _with_variants(demo, item)
    label = await device(demo.controller.conn, device_id)
    assert label is not None
    assert label.location
    content = label_content(item, demo.controller.render_stage.context, demo.controller.clock())
    path = f"/q/{demo.store}/{item.sku}"

    for width, shot in [(390, "/tmp/shopper-390.png"), (1280, "/tmp/shopper-1280.png")]:
        page, seen = await _open(browser, demo, path, width)
        try:
            await expect(page.get_by_role("heading", level=1)).to_have_text(item.name)
            price = page.locator("#price")
            await expect(price).to_contain_text(format_money(content.price, content.locale))
            if content.prior_price is not None:
                await expect(price).to_contain_text(
                    format_money(content.prior_price, content.locale)
                )
                await expect(price).to_contain_text("Son 30 günün en düşük fiyatı")
            if content.unit_price is not None:
                await expect(price).to_contain_text("Birim fiyat")
            await expect(page.locator("#where")).to_contain_text(" ".join(label.location.split()))
            await expect(page.locator("#reviews")).to_contain_text("Yorumlar")
            variants = page.locator(".variants li")
            await expect(variants).to_have_count(3)
            await expect(variants.nth(0)).to_contain_text("L Lacivert")
            await expect(variants.nth(0)).to_contain_text("mağazada 3")
            await expect(variants.nth(1)).to_contain_text("bu ürün")
            await expect(variants.nth(2)).to_contain_text("online")
            size = await page.locator(".now").evaluate("e => getComputedStyle(e).fontSize")
            assert float(size.removesuffix("px")) > 30, "the inline style did not apply"
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
            assert seen["requests"] == [f"{demo.url}{path}"]
            assert seen["errors"] == []
            await page.screenshot(path=shot, full_page=True)
        finally:
            await page.context.close()

    # The shopper taps another size: its page, a look from this item (not a scan).
    page, seen = await _open(browser, demo, path, 390)
    try:
        await page.get_by_role("link", name="L Lacivert", exact=True).click()
        await expect(page).to_have_url(f"{demo.url}/q/{demo.store}/{item.sku}-L?from={item.sku}")
        await expect(page.locator(".variants li.current")).to_contain_text("L Lacivert")
        assert seen["errors"] == []
    finally:
        await page.context.close()

    staff_context = await browser.new_context(base_url=demo.url)
    try:
        staff = await log_in(staff_context, demo, "staff")
        await staff.goto(f"/items/{item.sku}")
        await expect(staff.locator("#item-scans")).to_have_text(
            "Scanned 3 times in the last 7 days"
        )
        await expect(staff.locator("#item-looks")).to_have_text(f"{item.name} (1)")
        await staff.goto("/items")
        listed = staff.locator(".most-scanned li")
        await expect(listed.filter(has_text=item.sku)).to_contain_text("3 scans")
        aisle = " ".join(label.location.split("/")[0].split())
        await expect(staff.locator(".scans-by-aisle tbody tr").first).to_contain_text(aisle)
        looks = staff.locator(".next-looks li")
        await expect(looks.filter(has_text=f"{item.sku} → {item.sku}-L")).to_contain_text("1 look")
        await staff.set_viewport_size({"width": 390, "height": 844})
        await staff.screenshot(path="/tmp/console-items-390.png", full_page=True)
    finally:
        await staff_context.close()
