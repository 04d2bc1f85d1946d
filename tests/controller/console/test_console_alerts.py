"""The alerts page (controller/console/alert_pages.py): cards with the product's name, counts
per kind, Acknowledge and Resolve for staff only, kept current without a reload, and usable on a
phone."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

from controller.demo.stack import DemoStack
from controller.state.alerts_repo import (
    AlertKind,
    NewAlert,
    acknowledge,
    alert,
    open_alert_in,
    resolve,
)
from controller.state.catalog_repo import get_item
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.units import run_unit
from firmware_protocol.messages import Event, EventKind
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from tests.controller.console.console_kit import log_in

SKU = "TR-000001"


async def _open(
    demo: DemoStack, kind: AlertKind, subject: str, sku: str | None = SKU, minutes_ago: float = 0
) -> int:
    """Open an alert in the demo's database as the shelf events do; its id."""
    device_id, _, lane = subject.partition("/")
    new = NewAlert(kind, subject, device_id, int(lane) if lane else None, sku, {})
    at = demo.controller.clock() - timedelta(minutes=minutes_ago)
    assert await run_unit(demo.controller.conn, open_alert_in, new, at)
    async with demo.controller.conn.execute(
        "SELECT id FROM alerts WHERE subject = ? AND kind = ? AND state != 'resolved'",
        (subject, kind.value),
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _unresolved(demo: DemoStack, kind: AlertKind) -> int:
    async with demo.controller.conn.execute(
        "SELECT count(*) FROM alerts WHERE kind = ? AND state != 'resolved'", (kind.value,)
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _stored(demo: DemoStack, alert_id: int) -> Any:
    found = await alert(demo.controller.conn, alert_id)
    assert found is not None
    return found


def _card(page: Page, alert_id: int) -> Any:
    return page.locator(f'[data-alert="{alert_id}"]')


async def test_the_page_lists_an_alert_with_its_product_and_the_counts(
    staff: Page, demo: DemoStack
) -> None:
    """A low-stock alert 12 minutes old: its card says the kind in words, the item's name from
    the catalog, the sensor and lane, its age and state; each kind's filter shows how many are
    unresolved, and the low-stock filter keeps only those."""
    low = await _open(demo, AlertKind.LOW_STOCK, "shelf-90001/2", minutes_ago=12)
    other = await _open(demo, AlertKind.SENSOR_OFFLINE, "shelf-90002", sku=None)
    item = await get_item(demo.controller.conn, SKU)
    assert item is not None

    await staff.get_by_role("link", name="Alerts", exact=True).click()
    await expect(staff).to_have_url(re.compile(r"/alerts$"))
    card = _card(staff, low)
    for text in ("Low stock", item.name, "Sensor shelf-90001 · lane 2", "for 12 min", "Open"):
        await expect(card).to_contain_text(text)
    await expect(_card(staff, other)).to_contain_text("Sensor offline")
    await expect(_card(staff, other)).to_contain_text("Sensor shelf-90002")
    low_stock = await _unresolved(demo, AlertKind.LOW_STOCK)
    offline = await _unresolved(demo, AlertKind.SENSOR_OFFLINE)
    kinds = staff.get_by_role("navigation", name="Alert kind")
    await expect(kinds.get_by_role("link", name=f"Low stock {low_stock}")).to_be_visible()
    await expect(kinds.get_by_role("link", name=f"Sensor offline {offline}")).to_be_visible()

    await kinds.get_by_role("link", name=re.compile(r"^Low stock \d+$")).click()
    await expect(staff).to_have_url(re.compile(r"/alerts\?kind=low_stock$"))
    await expect(staff.get_by_role("heading", level=2)).to_have_text(
        f"Low stock to do: {low_stock}"
    )
    await expect(_card(staff, low)).to_be_visible()
    await expect(_card(staff, other)).to_have_count(0)


async def test_staff_acknowledges_then_resolves_in_the_browser(
    staff: Page, demo: DemoStack
) -> None:
    """Acknowledge: the database says acknowledged by the staff token's name, the card who is on
    it; Resolve: it leaves the to-do list and shows under Resolved. Both are in the audit log."""
    alert_id = await _open(demo, AlertKind.OUT_OF_STOCK, "shelf-90003/0", minutes_ago=5)
    await staff.goto("/alerts?kind=out_of_stock")
    card = _card(staff, alert_id)
    await card.get_by_role("button", name=re.compile(r"^Acknowledge")).click()
    await expect(staff.get_by_role("status").first).to_have_text(f"Alert {alert_id} acknowledged.")
    await expect(staff).to_have_url(re.compile(r"kind=out_of_stock"))
    await expect(card).to_contain_text("Acknowledged by staff")
    await expect(card.get_by_role("button", name=re.compile(r"^Acknowledge"))).to_have_count(0)
    stored = await _stored(demo, alert_id)
    assert (stored.state.value, stored.acknowledged_by) == ("acknowledged", "staff")

    await card.get_by_role("button", name=re.compile(r"^Resolve")).click()
    await expect(staff.get_by_role("status").first).to_have_text(f"Alert {alert_id} resolved.")
    await expect(card).to_have_count(0)
    stored = await _stored(demo, alert_id)
    assert (stored.state.value, stored.resolved_by) == ("resolved", "staff")

    await (
        staff.get_by_role("navigation", name="Alert state")
        .get_by_role("link", name="Resolved")
        .click()
    )
    await expect(card).to_contain_text("Resolved by staff after 5 min")
    await expect(card.get_by_role("button")).to_have_count(0)

    async with demo.controller.conn.execute(
        "SELECT action, actor FROM audit_log WHERE target = ? ORDER BY id", (f"alert:{alert_id}",)
    ) as cursor:
        rows = [tuple(row) for row in await cursor.fetchall()]
    assert rows == [("alert.acknowledged", "staff"), ("alert.resolved", "staff")]


async def test_an_alert_resolved_meanwhile_is_refused_with_the_reason(
    staff: Page, demo: DemoStack
) -> None:
    """The shelf resolves an alert while a staff user is about to acknowledge it (the focus on
    its button holds the list still): the page answers 409 with the reason and the list without
    it, and the alert keeps no acknowledger."""
    alert_id = await _open(demo, AlertKind.LOW_STOCK, "shelf-90006/0")
    await staff.goto("/alerts")
    button = _card(staff, alert_id).get_by_role("button", name=re.compile(r"^Acknowledge"))
    await button.focus()
    await resolve(demo.controller.conn, alert_id, "shelf", demo.controller.clock())
    await staff.wait_for_timeout(5_000)  # a poll went by: the focus kept the card
    async with staff.expect_navigation() as navigation:
        await button.click()
    answer = await navigation.value
    assert answer is not None
    assert answer.status == 409
    await expect(staff.get_by_role("alert")).to_have_text(f"Alert {alert_id} is already resolved.")
    await expect(_card(staff, alert_id)).to_have_count(0)
    stored = await _stored(demo, alert_id)
    assert (stored.state.value, stored.resolved_by, stored.acknowledged_by) == (
        "resolved",
        "shelf",
        None,
    )


async def test_a_viewer_sees_no_buttons_and_is_refused_if_it_posts(
    context: BrowserContext, demo: DemoStack
) -> None:
    """A viewer sees the alert but no Acknowledge or Resolve button; posting the form anyway
    (with its own valid CSRF token) is 403 and changes nothing."""
    alert_id = await _open(demo, AlertKind.HELP, "room-9", sku=None)
    viewer = await log_in(context, demo, "viewer")
    await viewer.goto("/alerts")
    card = _card(viewer, alert_id)
    await expect(card).to_contain_text("Help requested")
    await expect(card).to_contain_text("room-9")
    await expect(card.get_by_role("button")).to_have_count(0)
    await expect(viewer.get_by_text("may look but not acknowledge")).to_be_visible()

    csrf = await viewer.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    for action in ("ack", "resolve"):
        answer = await viewer.request.post(f"/alerts/{alert_id}/{action}", form={"csrf": csrf})
        assert answer.status == 403, action
        assert "staff role" in await answer.text()
    stored = await _stored(demo, alert_id)
    assert (stored.state.value, stored.acknowledged_by, stored.version) == ("open", None, 1)


async def test_the_list_keeps_itself_current(staff: Page, demo: DemoStack) -> None:
    """With the page open and never reloaded, a new alert appears and one resolved elsewhere (a
    restock) leaves, within a few polls."""
    await staff.goto("/alerts?kind=misplaced")
    await staff.evaluate("window.notReloaded = true")
    alert_id = await _open(demo, AlertKind.MISPLACED, "shelf-90004/1")
    card = _card(staff, alert_id)
    await expect(card).to_contain_text("Misplaced product", timeout=15_000)
    await expect(staff.locator("#poll-status")).to_have_text("Live")

    await resolve(demo.controller.conn, alert_id, "restock", demo.controller.clock())
    await expect(card).to_have_count(0, timeout=15_000)
    assert await staff.evaluate("window.notReloaded") is True


async def test_fits_a_phone_and_looks_right(browser: Browser, demo: DemoStack) -> None:
    """At 390 px wide the page, to do and resolved, never scrolls sideways and logs no error (a
    Content-Security-Policy violation would); screenshots at 390 and 1280 px for a person to
    look at (/tmp/alerts-390.png, /tmp/alerts-1280.png)."""
    for kind, subject in [
        (AlertKind.LOW_STOCK, "shelf-90005/0"),
        (AlertKind.UNCERTAIN, "shelf-90005/3"),
    ]:
        await _open(demo, kind, subject, minutes_ago=75)
    acknowledged = await _open(demo, AlertKind.OUT_OF_STOCK, "shelf-90005/1", minutes_ago=30)
    await acknowledge(demo.controller.conn, acknowledged, "ayse", demo.controller.clock())
    widths: dict[str, int] = {}
    errors: list[str] = []
    context = await browser.new_context(base_url=demo.url, viewport={"width": 390, "height": 844})
    try:
        page = await log_in(context, demo, "staff")
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for path in ("/alerts?show=resolved", "/alerts"):
            await page.goto(path)
            await expect(page.locator("#poll-status")).to_have_text("Live")
            widths[path] = await page.evaluate("document.documentElement.scrollWidth")
        await page.screenshot(path="/tmp/alerts-390.png", full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.screenshot(path="/tmp/alerts-1280.png", full_page=True)
    finally:
        await context.close()
    assert {path: w for path, w in widths.items() if w > 390} == {}
    assert errors == []


async def test_a_rooms_help_press_is_acknowledged_in_the_console_and_stops_escalating(
    staff: Page, demo: DemoStack
) -> None:
    """A fitting room's help button (its event, as the device intake hands it over) is a help
    alert on the page with what was asked; unacknowledged it escalates; staff acknowledge it in
    the browser and it escalates no more."""
    room = "fr-console-1"
    conn = demo.controller.conn
    now = demo.controller.clock()
    facts = BirthFacts(room, int(ModelId.FITTING_ROOM_DISPLAY), 0, "1.0.0", 0, 0, 1, 0)
    await record_birth(conn, room, facts, now, adopt=True)
    rooms = demo.controller.rooms
    address = DeviceAddress(demo.controller.store, room, room)
    await rooms.on_event(address, Event(1, EventKind.HELP_REQUEST, "Kabin 1: 38 beden"))
    async with conn.execute(
        "SELECT id FROM alerts WHERE subject = ? AND kind = 'help' AND state = 'open'", (room,)
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    alert_id = int(row[0])

    later = now + timedelta(seconds=rooms.escalate_after_s + 1)
    own_clock = rooms.clock
    rooms.clock = lambda: later
    try:
        assert await rooms.escalate() >= 1  # other tests' help alerts may escalate too
        assert (await _stored(demo, alert_id)).escalations == 1
        await staff.goto("/alerts?kind=help")
        card = _card(staff, alert_id)
        await expect(card).to_contain_text("Kabin 1: 38 beden")
        await card.get_by_role("button", name=re.compile(r"^Acknowledge")).click()
        await expect(card).to_contain_text("Acknowledged by staff")
        rooms.clock = lambda: later + timedelta(hours=1)
        await rooms.escalate()
    finally:
        rooms.clock = own_clock
    stored = await _stored(demo, alert_id)
    assert (stored.state.value, stored.escalations, stored.acknowledged_by) == (
        "acknowledged",
        1,
        "staff",
    )
