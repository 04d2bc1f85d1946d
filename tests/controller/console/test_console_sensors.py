"""Shelf sensors in the console (controller/console/sensor_pages.py) in real Chromium: the list,
linking lanes by scanning a product code (a scanner types it into the focused field and presses
Enter), refusals with their reason and status, a count read from the weight, a staff count,
unlink; every action audited as over REST; a viewer's page without forms and its 403; a phone's
width."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from controller.api.shelves import LaneLinkBody, catalog_grams, link_item, unlink_item
from controller.catalog.items import CatalogItem
from controller.demo.stack import DemoStack
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.shelves_repo import lane_link, lane_links, unlink_lane
from firmware_protocol.models import ModelId
from tests.controller.console.console_kit import log_in
from tests.support.shelf_intake import Clock

# One sensor per test, so that each starts with no lane linked whatever ran before.
SENSORS = tuple(f"shelf-console-{n}" for n in range(1, 6))
LANES = 4  # SHELF_SENSOR_4
NO_SUCH_CODE = "12345678"  # neither a SKU nor a valid GTIN-8


@dataclass(frozen=True, slots=True)
class Items:
    weighed: tuple[CatalogItem, CatalogItem]  # a GTIN and a net weight in g or kg
    unweighed: CatalogItem  # a GTIN, sold by the kilo: no unit weight in the catalog


async def _items(demo: DemoStack, where: str, limit: int) -> list[CatalogItem]:
    async with demo.controller.conn.execute(
        "SELECT body FROM items WHERE deleted = 0 AND json_extract(body, '$.gtin') IS NOT NULL"
        f" AND {where} ORDER BY sku LIMIT ?",
        (limit,),
    ) as cursor:
        return [CatalogItem.from_stored(row[0]) for row in await cursor.fetchall()]


@pytest.fixture(scope="module")
async def items(demo: DemoStack) -> Items:
    weighed = await _items(demo, "json_extract(body, '$.net_quantity.unit') IN ('g', 'kg')", 2)
    unweighed = await _items(demo, "json_extract(body, '$.net_quantity') IS NULL", 1)
    assert len(weighed) == 2, "the demo catalog changed"
    assert len(unweighed) == 1, "the demo catalog changed"
    return Items((weighed[0], weighed[1]), unweighed[0])


@pytest.fixture(scope="module")
async def sensors(demo: DemoStack) -> AsyncIterator[tuple[str, ...]]:
    """The test's sensors registered (a 4-lane shelf sensor's birth, adopted), whether or not
    the demo has sensors of its own; afterwards their lanes unlinked, so that no counter of
    theirs goes offline and opens an alert while later tests count alerts."""
    controller = demo.controller
    for sensor in SENSORS:
        facts = BirthFacts(sensor, ModelId.SHELF_SENSOR_4, 1, "1.0.0", 3000, 1024, 1, 0)
        await record_birth(controller.conn, sensor, facts, controller.clock(), adopt=True)
    yield SENSORS
    for link in await lane_links(controller.conn):
        if link.device_id in SENSORS:
            await unlink_lane(
                controller.conn, link.device_id, link.lane, at=controller.clock(), actor="test"
            )
    for sensor in SENSORS:
        await controller.shelves.reload(sensor)


async def audited(demo: DemoStack, sensor: str, lane: int) -> list[tuple[str, str, Any]]:
    async with demo.controller.conn.execute(
        "SELECT action, actor, detail FROM audit_log WHERE target = ? ORDER BY id",
        (f"shelf:{sensor}/{lane}",),
    ) as cursor:
        return [(row[0], row[1], row[2]) for row in await cursor.fetchall()]


def lane_card(page: Page, lane: int) -> Any:
    return page.locator(f'[data-lane="{lane}"]')


async def scan(page: Page, code: str) -> None:
    """A barcode scanner: it types the code into the focused field and presses Enter."""
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")


async def answered(page: Page, act: Callable[[], Awaitable[Any]]) -> int:
    """The status of the page that `act` (a form's post) was answered with."""
    async with page.expect_navigation() as navigation:
        await act()
    answer = await navigation.value
    assert answer is not None
    return answer.status


@asynccontextmanager
async def shelves_clock(demo: DemoStack, seconds_ago: float) -> AsyncIterator[Clock]:
    """The shelves' clock, starting `seconds_ago` and moved by the test; put back afterwards
    (the demo is shared by the package's tests)."""
    shelves = demo.controller.shelves
    real = shelves.clock
    clock = Clock(real() - timedelta(seconds=seconds_ago))
    shelves.clock = clock
    try:
        yield clock
    finally:
        shelves.clock = real


async def test_staff_link_lanes_by_scanning(
    staff: Page, demo: DemoStack, sensors: tuple[str, ...], items: Items
) -> None:
    """The "Shelves" link lists the sensor, not offline, no lane linked; on its page the first
    lane's code field has the focus: a scanner types a GTIN and Enter, lane 0 is linked and the
    next lane's field has the focus for the next scan. Lane 1 linked the same way: a shelf_lanes
    row with the catalog's weight, audited as shelf.link by "staff", its counter built."""
    sensor, (first, second) = sensors[0], items.weighed
    await staff.get_by_role("link", name="Shelves").click()
    await expect(staff).to_have_url(re.compile(r"/sensors$"))
    row = staff.locator(f'[data-sensor="{sensor}"]')
    await expect(row.locator(".mark-offline")).to_have_count(0)
    await expect(row.locator(".linked")).to_have_text("0 / 4")
    await row.get_by_role("link", name=sensor).click()
    await expect(staff.get_by_role("heading", level=1)).to_contain_text(f"Sensor {sensor}")
    await expect(staff.locator("[data-lane]")).to_have_count(LANES)

    for lane, item in ((0, first), (1, second)):
        code = lane_card(staff, lane).get_by_label("Scan or type the product code")
        await expect(code).to_be_focused()
        await expect(code).to_have_attribute("inputmode", "numeric")
        gtin = item.gtin
        assert gtin
        assert await answered(staff, lambda: scan(staff, gtin)) == 200  # noqa: B023 - awaited now
        card = lane_card(staff, lane)
        await expect(card.get_by_role("status")).to_contain_text(f"Lane {lane} linked")
        await expect(card.get_by_role("link", name=item.name)).to_be_visible()
        grams = catalog_grams(item)
        assert grams is not None
        await expect(card.locator(".unit")).to_have_text(
            f"{round(grams, 1):g} g, the catalog's net weight"
        )
        await expect(card.locator(".count")).to_have_text("not read yet")
    await expect(staff.locator("#code-2")).to_be_focused()

    linked = await lane_link(demo.controller.conn, sensor, 1)
    assert linked is not None
    assert (linked.sku, linked.unit_g, linked.low_stock, linked.linked_by) == (
        second.sku,
        catalog_grams(second),
        2,
        "staff",
    )
    [(action, actor, detail)] = await audited(demo, sensor, 1)
    assert (action, actor) == ("shelf.link", "staff")
    assert '"unit_from": "catalog"' in detail
    assert demo.controller.shelves.lane(sensor, 1) is not None  # the counter was built again

    await staff.goto("/sensors")
    await expect(staff.locator(f'[data-sensor="{sensor}"] .linked')).to_have_text("2 / 4")


async def test_refusals_show_their_reason(
    staff: Page, demo: DemoStack, sensors: tuple[str, ...], items: Items
) -> None:
    """An unknown code: 404 and the reason in the lane, its field focused for the next scan; an
    item with no weight: 409, then linked with a weight given; a tare with no stable level
    yet: 409; a count on a lane unlinked meanwhile by someone else: 409; a weight of 0: 422.
    Nothing refused is audited."""
    sensor = sensors[1]
    await staff.goto(f"/sensors/{sensor}")
    card = lane_card(staff, 0)

    await expect(staff.locator("#code-0")).to_be_focused()  # before it is, keys go elsewhere
    assert await answered(staff, lambda: scan(staff, NO_SUCH_CODE)) == 404
    await expect(card.get_by_role("alert")).to_have_text(
        f"Not done: no item with SKU or GTIN '{NO_SUCH_CODE}' in the catalog."
    )
    await expect(staff.locator("#code-0")).to_be_focused()

    produce = items.unweighed
    assert produce.gtin
    assert await answered(staff, lambda: scan(staff, produce.gtin)) == 409
    await expect(card.get_by_role("alert")).to_contain_text("has no weight in the catalog")
    await card.get_by_label("One unit (g)").fill("1000")
    await card.get_by_label("Scan or type the product code").fill(produce.gtin)
    await card.get_by_role("button", name="Link lane 0").click()
    await expect(card.get_by_role("status")).to_contain_text("Lane 0 linked")
    await expect(card.locator(".unit")).to_have_text("1000 g, given when linked")

    tare = card.get_by_role("button", name="Tare: the lane is empty")
    assert await answered(staff, tare.click) == 409
    await expect(card.get_by_role("alert")).to_have_text(
        f"Not done: {sensor} lane 0: not stable, cannot tare."
    )
    await expect(card.get_by_label("I counted")).to_be_focused()

    await unlink_item(demo.controller, sensor, 0, "ayse")  # another staff member, meanwhile
    await card.get_by_label("I counted").fill("3")
    assert await answered(staff, card.get_by_role("button", name="Save count").click) == 409
    await expect(card.get_by_role("alert")).to_have_text(
        f"Not done: {sensor} lane 0 is not linked to an item."
    )
    await expect(card).to_contain_text("Not linked")
    actions = [(action, actor) for action, actor, _ in await audited(demo, sensor, 0)]
    assert actions == [("shelf.link", "staff"), ("shelf.unlink", "ayse")]

    # A weight of 0 (the field's min stops a browser; a script may send it): 422, the reason.
    csrf = await staff.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    form = {"csrf": csrf, "item": items.weighed[0].sku, "unit_grams": "0"}
    answer = await staff.request.post(f"/sensors/{sensor}/lanes/1/link", form=form)
    assert answer.status == 422
    assert "weight: input should be greater than 0." in await answer.text()
    assert await audited(demo, sensor, 1) == []


async def test_counts_show_and_staff_count_and_unlink(
    staff: Page, demo: DemoStack, sensors: tuple[str, ...], items: Items
) -> None:
    """A lane holding 4 units for 40 s of reports reads 4, in stock; "I counted 1" makes it low
    (audited as shelf.count by "staff"), which the list counts with its alert; Unlink empties
    the lane, resolves the alert and leaves the lane's field ready for its new item."""
    sensor, item = sensors[2], items.weighed[0]
    grams = catalog_grams(item)
    assert grams is not None
    shelves = demo.controller.shelves
    async with shelves_clock(demo, seconds_ago=60) as clock:
        wanted = LaneLinkBody(sku=item.sku, low_stock=1, capacity=8)
        await link_item(demo.controller, sensor, 1, wanted, "staff")
        for _ in range(40):
            clock.tick()
            shelves.on_telemetry(sensor, [0, round(4 * grams), 0, 0])
        await shelves.flush()

    await staff.goto(f"/sensors/{sensor}")
    card = lane_card(staff, 1)
    await expect(card.locator(".count")).to_have_text("4")
    await expect(card.locator("[data-stock]")).to_have_attribute("data-stock", "in-stock")
    await expect(card.locator(".stock")).to_have_text("in stock")
    await expect(card.locator(".last")).to_contain_text("Initial count, 4 units")
    await expect(card).to_contain_text("1; holds 8")

    await card.get_by_label("I counted").fill("1")
    await card.get_by_role("button", name="Save count").click()
    await expect(card.get_by_role("status")).to_have_text("Lane 1: your count is taken.")
    await expect(card.locator(".count")).to_have_text("1")
    await expect(card.locator("[data-stock]")).to_have_attribute("data-stock", "low")
    [_, (action, actor, detail)] = await audited(demo, sensor, 1)
    assert (action, actor, detail) == ("shelf.count", "staff", '{"count": 1}')

    await staff.goto("/sensors")
    row = staff.locator(f'[data-sensor="{sensor}"]')
    await expect(row.locator(".linked")).to_have_text("1 / 4")
    await expect(row.locator(".low")).to_have_text("1")
    await expect(row.locator(".out")).to_have_text("0")
    await expect(row.locator(".alerts")).to_have_text("1")

    await row.get_by_role("link", name=sensor).click()
    await lane_card(staff, 1).get_by_role("button", name="Unlink").click()
    card = lane_card(staff, 1)
    await expect(card.get_by_role("status")).to_have_text("Lane 1 unlinked.")
    await expect(card).to_contain_text("Not linked")
    await expect(staff.locator("#code-1")).to_be_focused()
    assert await lane_link(demo.controller.conn, sensor, 1) is None
    assert shelves.lane(sensor, 1) is None
    assert [(a, who) for a, who, _ in await audited(demo, sensor, 1)][-1] == (
        "shelf.unlink",
        "staff",
    )
    await staff.goto("/sensors")
    await expect(staff.locator(f'[data-sensor="{sensor}"] .alerts')).to_have_text("0")


async def test_a_viewer_sees_the_lanes_but_no_forms(
    context: BrowserContext, demo: DemoStack, sensors: tuple[str, ...], items: Items
) -> None:
    """A viewer sees a linked lane's item and facts but no form, and every action it posts
    anyway (with its own CSRF token) is 403 and changes nothing; an unknown sensor is 404, a
    label 409 with the reason."""
    sensor, item = sensors[3], items.weighed[0]
    await link_item(demo.controller, sensor, 0, LaneLinkBody(sku=item.sku), "staff")
    viewer = await log_in(context, demo, "viewer")
    await viewer.goto(f"/sensors/{sensor}")
    await expect(lane_card(viewer, 0).get_by_role("link", name=item.name)).to_be_visible()
    await expect(viewer.get_by_text("may look but not act")).to_be_visible()
    await expect(viewer.locator("main form")).to_have_count(0)
    await expect(viewer.locator("main button, main input")).to_have_count(0)

    csrf = await viewer.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    before = await audited(demo, sensor, 0)
    for action, form in (
        ("link", {"item": item.sku}),
        ("unlink", {}),
        ("count", {"counted": "3"}),
        ("tare", {}),
    ):
        path = f"/sensors/{sensor}/lanes/0/{action}"
        answer = await viewer.request.post(path, form={"csrf": csrf} | form)
        assert answer.status == 403, action
        assert "staff role" in await answer.text()
    assert await audited(demo, sensor, 0) == before
    assert await lane_link(demo.controller.conn, sensor, 0) is not None

    assert (await viewer.request.get("/sensors/shelf-nobody")).status == 404
    label = await viewer.request.get("/sensors/lbl-00001")
    assert label.status == 409
    assert "is not a shelf sensor" in await label.text()


async def test_fits_a_phone_and_a_desktop(
    browser: Browser, demo: DemoStack, sensors: tuple[str, ...], items: Items
) -> None:
    """At 390 px and 1280 px the list and a sensor's page with a counted lane and the staff's
    forms never scroll sideways (nor does the list's table in its box) and log no error (a CSP
    violation would). Screenshots:
    /tmp/sensors-{390,1280}.png (the list), /tmp/sensor-{390,1280}.png (a sensor)."""
    sensor, item = sensors[4], items.weighed[1]
    grams = catalog_grams(item)
    assert grams is not None
    async with shelves_clock(demo, seconds_ago=60) as clock:
        wanted = LaneLinkBody(sku=item.sku, low_stock=2, capacity=12)
        await link_item(demo.controller, sensor, 2, wanted, "staff")
        for _ in range(40):
            clock.tick()
            demo.controller.shelves.on_telemetry(sensor, [0, 0, round(4 * grams), 0])
        await demo.controller.shelves.flush()

    widths: dict[str, int] = {}
    errors: list[str] = []
    for width, height in ((390, 844), (1280, 900)):
        context = await browser.new_context(
            base_url=demo.url, viewport={"width": width, "height": height}
        )
        try:
            page = await log_in(context, demo, "staff")
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            for path, shot in (("/sensors", "sensors"), (f"/sensors/{sensor}", "sensor")):
                await page.goto(path)
                widths[f"{path} at {width}"] = await page.evaluate(
                    "document.documentElement.scrollWidth"
                )
                await page.screenshot(path=f"/tmp/{shot}-{width}.png", full_page=True)
            # The list's table drops a column on a phone rather than scroll in its box.
            await page.goto("/sensors")
            wrap = page.locator(".table-wrap")
            assert await wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), width
            await page.goto(f"/sensors/{sensor}")
            await expect(lane_card(page, 2).locator(".count")).to_have_text("4")
        finally:
            await context.close()
    assert {where: w for where, w in widths.items() if w > int(where.rsplit(" ", 1)[1])} == {}
    assert errors == []
