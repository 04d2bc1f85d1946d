"""Screenshots of the store console for docs/console.md, in headless Chromium (Debian's package).

Starts the demo stack (a small store), lets the labels converge, takes one label offline, then
shoots each main page at desktop size and at 390 px (a phone) into docs/console/*.png.

    .venv/bin/python scripts/console_screenshots.py [--labels 120] [--out docs/console]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.demo.stack import DemoStack, running_demo
from controller.operations import RelabelTarget
from controller.state.catalog_repo import get_item
from controller.state.devices_repo import binding_of
from device_sim.gateway import Gateway, Outgoing
from device_sim.store import label_id

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
OFFLINE = "lbl-00004"


async def converge(demo: DemoStack, within_s: float = 90.0) -> None:
    for _ in range(int(within_s / 0.5)):
        if await demo.confirmed() >= demo.labels:
            return
        await asyncio.sleep(0.5)


async def promoted_label(demo: DemoStack) -> tuple[str, CatalogItem]:
    """The first label whose item is on promotion (its chart has HQ's price history)."""
    first: tuple[str, CatalogItem] | None = None
    for index in range(1, demo.labels + 1):
        device_id = label_id(index)
        binding = await binding_of(demo.controller.conn, device_id)
        item = None if binding is None else await get_item(demo.controller.conn, binding.sku)
        if item is None:
            continue
        first = first or (device_id, item)
        if item.price_history:
            return device_id, item
    assert first is not None, "no linked label"
    return first


async def staff_actions(demo: DemoStack, device_id: str) -> None:
    """A few things staff do, so that the audit log and the label's history show them."""
    ops = demo.controller.operations
    other = label_id(1)
    binding = await binding_of(demo.controller.conn, other)
    item = None if binding is None else await get_item(demo.controller.conn, binding.sku)
    if item is not None:
        change = item.model_copy(
            update={"price": item.price + 2, "version": (item.version or 0) + 1}
        )
        await demo.controller.apply([Upsert(change)], actor="staff")
    await ops.relabel(RelabelTarget(device_ids=(device_id,)), actor="staff")
    await ops.locate(device_id, actor="staff")


async def shoot(browser: Browser, demo: DemoStack, out: Path, label: str, sku: str) -> list[Path]:
    pages = {
        "wall": "/",
        "items": f"/items?q={sku[:4]}",
        "item": f"/items/{sku}",
        "label": f"/labels/{label}",
        "problems": "/problems?kind=offline",
        "audit": "/audit",
    }
    written = []
    for size, viewport in SIZES.items():
        context = await browser.new_context(base_url=demo.url, viewport=viewport)  # type: ignore[arg-type]
        page = await context.new_page()
        await page.goto("/login")
        path = out / f"login-{size}.png"
        await page.screenshot(path=path)
        written.append(path)
        await page.get_by_label("API token").fill(demo.tokens["staff"])
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"{demo.url}/")
        for name, url in pages.items():
            await page.goto(url)
            await page.wait_for_load_state("networkidle")
            path = out / f"{name}-{size}.png"
            await page.screenshot(path=path)
            written.append(path)
        await context.close()
    return written


async def main(labels: int, out: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is not installed (scripts/install-system-deps)")
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        async with running_demo(
            Path(workdir), labels=labels, catalog_interval_s=3600, workers=2
        ) as demo:
            await converge(demo)

            def offline(gateway: Gateway, now: float) -> list[Outgoing]:
                return gateway.go_offline(OFFLINE, now, 3600)

            demo.simulator.act(OFFLINE, offline)
            label, item = await promoted_label(demo)
            await staff_actions(demo, label)
            await converge(demo, within_s=8)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=chromium, headless=True, args=ARGS
                )
                try:
                    for path in await shoot(browser, demo, out, label, item.sku):
                        print(path)  # noqa: T201
                finally:
                    await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=120)
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    options = parser.parse_args()
    asyncio.run(main(options.labels, options.out))
