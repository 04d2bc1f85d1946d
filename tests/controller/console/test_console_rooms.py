"""The fitting-room kiosk page (controller/console/room_pages.py) in real Chromium: the garments
inside with their other sizes and colours and where to get them, kept current without a reload
as garments come and go; "Call staff" opening one help alert, for a viewer too; 404 for a device
that is no room; the staff's room list; a tablet's and a phone's width."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from controller.catalog.variants import Phrases, phrases_for
from controller.demo.stack import DemoStack
from controller.state.alerts_repo import Alert, AlertKind, AlertState, list_alerts, resolve
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.rooms_repo import current_visit
from firmware_protocol.messages import Event, EventKind
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from gs1.epc import check_digit, encode_sgtin96
from tests.controller.console.console_kit import log_in

PREFIX = "869765432"  # a made-up 9-digit GS1 company prefix (Türkiye's 869)
STYLE = "KIOSK-TEST"
# sku: (n of its GTIN, size, colour, store stock, online)
SHIRTS = {
    "KSK-NV-S": (1, "S", "Lacivert", 2, False),
    "KSK-NV-M": (2, "M", "Lacivert", 0, True),
    "KSK-BK-S": (3, "S", "Siyah", 0, False),
    "KSK-BK-M": (4, "M", "Siyah", 4, False),
}
NAME = "Keten Gömlek"
NOT_IN_CATALOG = 99
UNKNOWN_TAG = "E280116060000204ABCDEF01"  # a chip's factory EPC: no item
# One room per test, so that each starts empty whatever ran before.
ROOMS = tuple(f"fr-kiosk-{n}" for n in range(1, 7))


def gtin(n: int) -> str:
    body = f"{PREFIX}{n:03d}"
    return body + str(check_digit(body))


def epc(sku_or_n: str | int, serial: int = 1) -> str:
    n = sku_or_n if isinstance(sku_or_n, int) else SHIRTS[sku_or_n][0]
    return encode_sgtin96(gtin(n), len(PREFIX), serial)


@pytest.fixture(scope="module")
async def rooms(demo: DemoStack) -> tuple[str, ...]:
    """The test's rooms registered (a fitting-room display's birth, adopted) and its shirt style
    in the catalog through the API: 2 colours x 2 sizes with GTINs."""
    conn = demo.controller.conn
    for room in ROOMS:
        facts = BirthFacts(room, ModelId.FITTING_ROOM_DISPLAY, 1, "1.0.0", 3000, 1024, 1, 0)
        await record_birth(conn, room, facts, demo.controller.clock(), adopt=True)
    headers = {"Authorization": f"Bearer {demo.tokens['staff']}"}
    async with httpx.AsyncClient(base_url=demo.url, headers=headers) as client:
        for sku, (n, size, colour, quantity, online) in SHIRTS.items():
            body: dict[str, Any] = {
                "sku": sku,
                "name": NAME,
                "currency": "TRY",
                "price": "899.90",
                "gtin": gtin(n),
                "stock": {"quantity": quantity, "online_available": online},
                "family": {"style": STYLE, "size": size, "colour": colour},
            }
            answer = await client.put(f"/api/v1/items/{sku}", json=body)
            assert answer.status_code in (200, 201), answer.text
    return ROOMS


def words(demo: DemoStack) -> Phrases:
    return phrases_for(demo.controller.settings.locale)


async def garment(
    demo: DemoStack, room: str, code: str, kind: EventKind = EventKind.ITEM_IN
) -> None:
    """The room's reader saw a tag come in (or leave), as its ITEM_IN / ITEM_OUT event says."""
    address = DeviceAddress(demo.store, room, room)
    await demo.controller.rooms.on_event(address, Event(1, kind, code))


async def help_alerts(demo: DemoStack, room: str) -> list[Alert]:
    found = await list_alerts(
        demo.controller.conn,
        states=(AlertState.OPEN, AlertState.ACKNOWLEDGED),
        kinds=(AlertKind.HELP,),
        limit=1000,
    )
    return [a for a in found if a.subject == room]


async def audited(demo: DemoStack, room: str) -> list[tuple[str, str]]:
    async with demo.controller.conn.execute(
        "SELECT action, actor FROM audit_log WHERE target = ? ORDER BY id", (f"room:{room}",)
    ) as cursor:
        return [(row[0], row[1]) for row in await cursor.fetchall()]


def card(page: Page, code: str) -> Any:
    return page.locator(f'[data-garment="{code}"]')


async def test_the_kiosk_shows_the_garments_inside_and_keeps_current(
    staff: Page, demo: DemoStack, rooms: tuple[str, ...]
) -> None:
    """Empty: the welcome. A shirt brought in: its name, size and colour, then its other sizes
    and colours (its colour first) with the store's stock, online or sold out. A second shirt,
    an unknown tag and a GTIN no item carries appear without a reload; ITEM_OUT takes a garment
    away, and the last one out brings the welcome back."""
    room, said = rooms[0], words(demo)
    await staff.goto(f"/rooms/{room}")
    await expect(staff.locator("html")).to_have_attribute("lang", "tr")
    await expect(staff.get_by_role("heading", name="Hoş geldiniz")).to_be_visible()
    await staff.evaluate("window.notReloaded = true")

    navy_s = epc("KSK-NV-S")
    await garment(demo, room, navy_s)
    shirt = card(staff, navy_s)
    await expect(shirt.get_by_role("heading", name=NAME)).to_be_visible(timeout=10_000)
    await expect(shirt.locator(".garment-variant")).to_have_text(
        re.compile(r"Beden S\s+Renk Lacivert")
    )
    await expect(shirt.locator(".variant-name")).to_have_text(["M Lacivert", "M Siyah", "S Siyah"])
    await expect(shirt.locator(".variant-where")).to_have_text(
        [said.online, said.in_store.format(n=4), said.sold_out]
    )
    await expect(staff.get_by_role("heading", name="Hoş geldiniz")).to_have_count(0)

    black_m, not_ours = epc("KSK-BK-M"), epc(NOT_IN_CATALOG)
    for code in (black_m, UNKNOWN_TAG, not_ours):
        await garment(demo, room, code)
    await expect(card(staff, black_m).locator(".variant-where")).to_have_text(
        [said.sold_out, said.online, said.in_store.format(n=2)], timeout=10_000
    )
    await expect(card(staff, black_m).locator(".variant-name")).to_have_text(
        ["S Siyah", "M Lacivert", "S Lacivert"]
    )
    await expect(card(staff, UNKNOWN_TAG)).to_have_text(said.unknown_tag)
    await expect(card(staff, not_ours)).to_have_text(said.no_item)
    await expect(staff.locator("[data-garment]")).to_have_count(4)

    await garment(demo, room, navy_s, EventKind.ITEM_OUT)
    await expect(shirt).to_have_count(0, timeout=10_000)
    await expect(card(staff, black_m)).to_be_visible()
    for code in (black_m, UNKNOWN_TAG, not_ours):
        await garment(demo, room, code, EventKind.ITEM_OUT)
    await expect(staff.get_by_role("heading", name="Hoş geldiniz")).to_be_visible(timeout=10_000)
    assert await current_visit(demo.controller.conn, room) is None
    assert await staff.evaluate("window.notReloaded") is True


async def test_call_staff_opens_one_help_alert(
    staff: Page, demo: DemoStack, rooms: tuple[str, ...]
) -> None:
    """ "Call staff" opens the room's help alert (one: pressed again, nothing more), counted in
    the visit and audited once with the caller's name; the page says staff are called until the
    alert is resolved, which it shows without a reload."""
    room, said = rooms[1], words(demo)
    await garment(demo, room, epc("KSK-NV-M"))
    await staff.goto(f"/rooms/{room}")
    button = staff.get_by_role("button", name="Personel çağır")
    await button.click()
    await expect(staff).to_have_url(re.compile(rf"/rooms/{room}$"))
    await expect(staff.get_by_role("status")).to_have_text(said.staff_called)
    assert said.staff_called == "Personel çağrıldı"
    await button.click()
    await expect(staff.get_by_role("status")).to_have_text(said.staff_called)

    opened = await help_alerts(demo, room)
    assert [(a.device_id, a.state) for a in opened] == [(room, AlertState.OPEN)]
    assert opened[0].detail == {"asked": "kiosk page, staff"}
    visit = await current_visit(demo.controller.conn, room)
    assert visit is not None
    assert visit.help_requests == 1
    assert await audited(demo, room) == [("room.staff_called", "staff")]

    await staff.evaluate("window.notReloaded = true")
    await resolve(demo.controller.conn, opened[0].id, "ayse", demo.controller.clock())
    await expect(staff.get_by_role("status")).to_have_count(0, timeout=10_000)
    assert await staff.evaluate("window.notReloaded") is True


async def test_a_viewer_loads_the_kiosk_and_calls_staff(
    context: BrowserContext, demo: DemoStack, rooms: tuple[str, ...]
) -> None:
    """A tablet signed in with a viewer token shows the kiosk and may call staff; a post without
    the CSRF token is refused (403) and opens nothing. When its session ends the page goes to
    the login page by itself (no stale kiosk)."""
    room, said = rooms[2], words(demo)
    viewer = await log_in(context, demo, "viewer")
    refused = await viewer.request.post(f"/rooms/{room}/help", form={"csrf": "forged"})
    assert refused.status == 403
    assert await help_alerts(demo, room) == []

    await viewer.goto(f"/rooms/{room}")
    await expect(viewer.get_by_role("heading", name="Hoş geldiniz")).to_be_visible()
    await viewer.get_by_role("button", name="Personel çağır").click()
    await expect(viewer.get_by_role("status")).to_have_text(said.staff_called)
    assert [a.device_id for a in await help_alerts(demo, room)] == [room]
    assert await audited(demo, room) == [("room.staff_called", "viewer")]

    await viewer.request.post("/logout")  # the session ends (as 12 hours after sign-in)
    await expect(viewer).to_have_url(re.compile(r"/login\?next=%2Frooms%2F"), timeout=10_000)


async def test_a_device_that_is_no_room_is_404(staff: Page, demo: DemoStack) -> None:
    """A label's id and an unknown id: the page, its fragment and "Call staff" are 404, and no
    alert is opened."""
    csrf = await staff.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    for device_id in ("lbl-00001", "fr-nobody"):
        for path in (f"/rooms/{device_id}", f"/rooms/{device_id}/live"):
            answer = await staff.request.get(path)
            assert answer.status == 404, path
        posted = await staff.request.post(f"/rooms/{device_id}/help", form={"csrf": csrf})
        assert posted.status == 404, device_id
        assert await help_alerts(demo, device_id) == []


async def test_staff_list_the_rooms(staff: Page, demo: DemoStack, rooms: tuple[str, ...]) -> None:
    """The "Fitting rooms" link lists the rooms: one with two garments inside for how long and
    its help request, one empty; today's figures; a room links to its kiosk page."""
    busy, empty = rooms[3], rooms[4]
    for code in (epc("KSK-BK-S"), UNKNOWN_TAG):
        await garment(demo, busy, code)
    address = DeviceAddress(demo.store, busy, busy)
    await demo.controller.rooms.on_event(address, Event(2, EventKind.HELP_REQUEST, "Beden?"))

    await staff.get_by_role("link", name="Fitting rooms").click()
    await expect(staff).to_have_url(re.compile(r"/rooms$"))
    row = staff.locator(f'[data-room="{busy}"]')
    await expect(row).to_contain_text("2 garments for less than a minute (1 unknown tag)")
    await expect(row).to_contain_text("Help requested for less than a minute")
    await expect(staff.locator(f'[data-room="{empty}"]')).to_contain_text("Empty")
    tried = staff.locator(".facts div", has_text="Garments tried").locator("dd")
    assert int(await tried.inner_text()) >= 2

    await row.get_by_role("link", name=busy).click()
    await expect(staff).to_have_url(re.compile(rf"/rooms/{busy}$"))
    await expect(card(staff, UNKNOWN_TAG)).to_be_visible()
    await garment(demo, busy, epc("KSK-BK-S"), EventKind.ITEM_OUT)
    await garment(demo, busy, UNKNOWN_TAG, EventKind.ITEM_OUT)


async def test_fits_a_tablet_and_a_phone(
    browser: Browser, demo: DemoStack, rooms: tuple[str, ...]
) -> None:
    """At 768 px (a tablet) and 390 px (a phone) the kiosk with garments inside and staff called,
    the empty kiosk and the room list never scroll sideways and log no error (a CSP violation
    would); the button is at least 56 px high. Screenshots: /tmp/kiosk-768.png and
    /tmp/kiosk-390.png, empty /tmp/kiosk-empty-*.png, the list /tmp/rooms-*.png."""
    room, empty = rooms[5], rooms[4]
    for code in (epc("KSK-NV-S"), epc("KSK-BK-M"), UNKNOWN_TAG):
        await garment(demo, room, code)
    widths: dict[str, int] = {}
    errors: list[str] = []
    for width, height in ((768, 1024), (390, 844)):
        context = await browser.new_context(
            base_url=demo.url, viewport={"width": width, "height": height}
        )
        try:
            page = await log_in(context, demo, "viewer")
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            for path in (f"/rooms/{empty}", "/rooms", f"/rooms/{room}"):
                await page.goto(path)
                widths[f"{path} at {width}"] = await page.evaluate(
                    "document.documentElement.scrollWidth"
                )
                if path == "/rooms":
                    await page.screenshot(path=f"/tmp/rooms-{width}.png", full_page=True)
                elif path.endswith(empty):
                    await page.screenshot(path=f"/tmp/kiosk-empty-{width}.png")
            await page.get_by_role("button", name="Personel çağır").click()
            await expect(page.get_by_role("status")).to_be_visible()
            await expect(page.locator("[data-garment]")).to_have_count(3)
            await page.wait_for_timeout(2_500)  # a poll went by
            box = await page.get_by_role("button", name="Personel çağır").bounding_box()
            assert box is not None
            assert box["height"] >= 56
            widths[f"called at {width}"] = await page.evaluate(
                "document.documentElement.scrollWidth"
            )
            # The whole page in one screen (a full-page shot would leave the sticky button
            # where the first screen ends).
            tall = await page.evaluate("document.documentElement.scrollHeight")
            await page.set_viewport_size({"width": width, "height": max(height, tall)})
            await page.screenshot(path=f"/tmp/kiosk-{width}.png")
        finally:
            await context.close()
    assert {where: w for where, w in widths.items() if w > int(where.rsplit(" ", 1)[1])} == {}
    assert errors == []
    for code in (epc("KSK-NV-S"), epc("KSK-BK-M"), UNKNOWN_TAG):
        await garment(demo, room, code, EventKind.ITEM_OUT)
