"""The shoppers' page behind a label's QR code (`GET /q/{store}/{sku}`): what it shows, computed as
the labels compute it; its headers, weight and escaping; 404s; scans recorded without personal
data."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from controller.catalog.labels import last_day
from controller.settings import Settings
from controller.shoppers.page import label_locations
from controller.state.catalog_repo import record_applied_price
from label_renderer.content import Money
from label_renderer.locales import format_money
from tests.controller.api.api_kit import T0, Api, item, open_api, settings_for

NBSP = "\u00a0"
TZ_TR = timezone(timedelta(hours=3))


def lira(amount: str) -> str:
    """ "15,00 ₺": how the labels write a Turkish price (the sign after, a no-break space)."""
    return format_money(Money(Decimal(amount), "TRY"), "tr-TR")


async def put(api: Api, sku: str, **fields: Any) -> None:
    answer = await api.client.put(
        f"/api/v1/items/{sku}", json=item(sku, **fields), headers=api.as_("staff")
    )
    assert answer.status_code == 200, answer.text


async def page(api: Api, sku: str, **headers: str) -> tuple[int, str]:
    answer = await api.client.get(f"/q/{api.controller.store}/{sku}", headers=headers)
    return answer.status_code, answer.text


def text_of(html: str) -> str:
    """The page's visible text, tags dropped and spaces folded (the no-break space kept)."""
    body = html.split("<body>", 1)[1]
    return re.sub(r"[ \n\t]+", " ", unescape(re.sub(r"<[^>]+>", " ", body))).strip()


async def scans(api: Api) -> list[tuple[str, str, str | None]]:
    async with api.controller.conn.execute("SELECT at, sku, user_agent FROM scans") as cursor:
        return [(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def test_the_page_shows_the_price_as_the_labels_compute_it(api: Api) -> None:
    """A promotion in force: its price, the Omnibus prior price (the lowest of HQ's history and the
    prices this store applied in the 30 days before it), the reduction from it, the unit price
    per kg, the last day; each formatted as on the label (tr-TR: "15,00 ₺")."""
    await put(
        api,
        "TR-1",
        name="Fındıklı Gofret",
        brand="Ülker",
        variant="500 g",
        price="20.00",
        net_quantity={"value": "500", "unit": "g"},
        promotion={
            "price": "15.00",
            "starts_at": (T0 - timedelta(days=2)).isoformat(),
            "ends_at": datetime(2026, 3, 8, tzinfo=TZ_TR).isoformat(),
            "text": "Hafta sonu",
        },
        price_history=[
            {
                "price": "19.00",
                "valid_from": (T0 - timedelta(days=40)).isoformat(),
                "valid_to": (T0 - timedelta(days=10)).isoformat(),
            }
        ],
        origin="Türkiye",
    )
    # This store's shelves showed 18.00 for a while inside the window: that is the lowest.
    await record_applied_price(
        api.controller.conn, "TR-1", Decimal("18.00"), "TRY", T0 - timedelta(days=8)
    )
    await record_applied_price(
        api.controller.conn, "TR-1", Decimal("20.00"), "TRY", T0 - timedelta(days=5)
    )
    status, html = await page(api, "TR-1")
    assert status == 200
    shown = text_of(html)
    assert '<html lang="tr">' in html
    assert f"Ülker Fındıklı Gofret 500 g -%16 {lira('15.00')}" in shown
    assert f"Son 30 günün en düşük fiyatı: {lira('18.00')}" in shown
    assert f"Birim fiyat: {lira('30.00')}/kg" in shown
    assert "Hafta sonu" in shown
    assert f"Son gün: {last_day(datetime(2026, 3, 8, tzinfo=TZ_TR), 'tr-TR')}" in shown
    assert "Menşei: Türkiye" in shown
    assert lira("20.00") not in shown  # the regular price is no reduction claim's reference


async def test_a_plain_price_and_the_labels_stock_badge(api: Api) -> None:
    """No promotion: the price alone, no badge or prior price; the catalog's low stock is the
    labels' "Son ürünler"."""
    await put(api, "TR-2", price="1299.90", stock={"quantity": 2, "low_threshold": 5})
    status, html = await page(api, "TR-2")
    shown = text_of(html)
    assert status == 200
    assert lira("1299.90") == f"1.299,90{NBSP}₺"
    assert lira("1299.90") in shown
    assert "Son ürünler" in shown
    assert "en düşük" not in shown
    assert 'class="badge"' not in html


async def test_reviews_show_the_rating_and_only_an_allowed_https_link(
    api: Api, tmp_path: Path
) -> None:
    """The item's rating and count with the allowlisted reviews link; a pattern pointing off the
    allowlist leaves the link out (the page is still served, never a link elsewhere)."""
    await put(api, "TR-1", reviews={"rating": "4.3", "count": 1280})
    status, html = await page(api, "TR-1")
    assert status == 200
    assert "4,3 1.280 değerlendirme" in text_of(html)
    assert 'aria-label="5 üzerinden 4,3 yıldız"' in html
    assert f'href="https://reviews.example/{api.controller.store}/TR-1"' in html
    assert 'width="103.2"' in html  # 4.3 of 5 stars of 24 units are filled

    evil = settings_for(
        tmp_path / "evil", "s-evil", review_url_pattern="https://evil.example/{sku}"
    )
    async with open_api(evil) as other:
        await put(other, "TR-1")
        status, html = await page(other, "TR-1")
    assert status == 200
    assert "evil.example" not in html
    assert "Henüz değerlendirme yok" in text_of(html)
    assert "<a " not in html


FAMILY = "JKT"


def jacket(size: str, colour: str, quantity: int | None, online: bool = False) -> dict[str, Any]:
    return {
        "name": "Yün Ceket",
        "price": "2499.00",
        "stock": {"quantity": quantity, "online_available": online},
        "family": {"style": FAMILY, "size": size, "colour": colour, "collection": "Kış 26"},
    }


async def test_other_sizes_and_colours_with_store_and_online_stock(api: Api) -> None:
    """The style's variants, the scanned one's colour first: the shelf's count where a smart shelf
    counts the item, else the catalog's store stock, else online, else sold out; one item of the
    collection."""
    await put(api, "J-36L", **jacket("36", "Lacivert", 4))
    await put(api, "J-38L", **jacket("38", "Lacivert", 2))
    await put(api, "J-40L", **jacket("40", "Lacivert", 0, online=True))
    await put(api, "J-38S", **jacket("38", "Siyah", 0))
    await put(
        api,
        "S-1",
        name="Yün Atkı",
        family={"style": "SCF", "colour": "Gri", "collection": "Kış 26"},
    )
    await api.controller.conn.execute(
        "INSERT INTO shelf_stock (device_id, lane, sku, count, state, updated_at)"
        " VALUES ('shelf-1', 0, 'J-36L', 7, 'ok', ?)",
        (T0.isoformat(),),
    )
    await api.controller.conn.commit()
    status, html = await page(api, "J-38L")
    assert status == 200
    shown = text_of(html)
    assert (
        "Diğer beden ve renkler"
        " 36 Lacivert mağazada 7"
        " 38 Lacivert (bu ürün) mağazada 2"
        " 40 Lacivert online"
        " 38 Siyah tükendi"
        " Aynı koleksiyondan: Yün Atkı"
    ) in shown
    assert 'class="av av-out"' in html
    assert 'aria-current="true"' in html
    # Each other size or colour links to its own page as a look from this one; itself does not.
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)
    assert [(unescape(href), name) for href, name in links if href.startswith("./")] == [
        ("./J-36L?from=J-38L", "36 Lacivert"),
        ("./J-40L?from=J-38L", "40 Lacivert"),
        ("./J-38S?from=J-38L", "38 Siyah"),
    ]


async def test_a_look_from_a_page_is_not_a_scan_and_scans_keep_their_aisle(api: Api) -> None:
    """A scan keeps the aisle of the item's labels when they all hang in one; a visit through a
    page's link (?from=) is a look from that item, left out of the scan counts; a `from` naming
    no other item of the store is a scan."""
    await put(api, "J-38L", **jacket("38", "Lacivert", 2))
    await put(api, "J-40L", **jacket("40", "Lacivert", 1))
    await put(api, "TR-1")
    for device_id, sku, location in [
        ("lbl-00001", "J-38L", "Reyon 3 / Raf 2"),
        ("lbl-00002", "J-38L", "reyon 3/raf 5"),
        ("lbl-00003", "TR-1", "Reyon 1 / Raf 1"),
        ("lbl-00004", "TR-1", "Reyon 7"),
    ]:
        await api.add_label(device_id)
        linked = await api.client.post(
            f"/api/v1/labels/{device_id}/link",
            json={"item": sku, "location": location},
            headers=api.as_("staff"),
        )
        assert linked.status_code == 200, linked.text
    store = api.controller.store
    for path in [
        "J-38L",
        "J-40L?from=J-38L",
        "J-40L?from=J-40L",  # itself: a scan
        "J-40L?from=NOPE",  # no such item: a scan
        "TR-1",
    ]:
        answer = await api.client.get(f"/q/{store}/{path}")
        assert answer.status_code == 200, path
    async with api.controller.conn.execute(
        "SELECT sku, aisle, from_sku FROM scans ORDER BY id"
    ) as cursor:
        rows = [tuple(row) for row in await cursor.fetchall()]
    assert rows == [
        ("J-38L", "Reyon 3", None),
        ("J-40L", None, "J-38L"),
        ("J-40L", None, None),  # no label: no aisle
        ("J-40L", None, None),
        ("TR-1", None, None),  # labels in two aisles
    ]
    too_long = await api.client.get(f"/q/{store}/J-40L?from={'X' * 65}")
    assert too_long.status_code == 422


async def test_an_item_with_no_family_lists_no_variants(api: Api) -> None:
    """No family, or a style with one item: no variants section."""
    await put(api, "TR-1")
    await put(api, "J-1", **jacket("38", "Lacivert", 1))
    for sku in ["TR-1", "J-1"]:
        status, html = await page(api, sku)
        assert status == 200
        assert 'id="variants"' not in html


async def test_where_in_the_store_from_the_labels_locations(api: Api) -> None:
    """The linked labels' locations, once per place however staff typed it; unlinked or unplaced
    labels add none."""
    await put(api, "TR-1")
    places = {
        "lbl-00001": "Reyon 3 / Raf 2",
        "lbl-00002": "reyon 3/raf  2",
        "lbl-00003": "Reyon 7 / Raf 1",
        "lbl-00004": None,
    }
    for device_id, location in places.items():
        await api.add_label(device_id)
        body = {"item": "TR-1"} | ({"location": location} if location else {})
        linked = await api.client.post(
            f"/api/v1/labels/{device_id}/link", json=body, headers=api.as_("staff")
        )
        assert linked.status_code == 200, linked.text
    await api.add_label("lbl-00005")  # not linked
    assert await label_locations(api.controller.conn, "TR-1") == (
        "Reyon 3 / Raf 2",
        "Reyon 7 / Raf 1",
    )
    status, html = await page(api, "TR-1")
    assert "Mağazada nerede Reyon 3 / Raf 2 Reyon 7 / Raf 1" in text_of(html)

    await put(api, "TR-2")
    status, html = await page(api, "TR-2")
    assert status == 200
    assert 'id="where"' not in html


async def test_unknown_store_or_item_is_a_404_page_and_no_scan(api: Api) -> None:
    """Another store's code or an unknown SKU: a short page in the store's language, 404, with the
    page's headers, and no scan row."""
    await put(api, "TR-1")
    for path in ["/q/other-store/TR-1", f"/q/{api.controller.store}/TR-404"]:
        answer = await api.client.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert "Ürün bulunamadı" in answer.text
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert "location" not in answer.headers
    assert await scans(api) == []


async def test_a_scan_is_a_row_with_the_item_and_the_hour_only(tmp_path: Path) -> None:
    """Recorded per item at the hour (09:25 -> 09:00), no user agent and no address, whatever the
    phone sends."""
    settings = settings_for(tmp_path, "s-hour")
    async with open_api(settings, clock=lambda: T0 + timedelta(minutes=25, seconds=7)) as api:
        await put(api, "TR-1")
        status, _ = await page(api, "TR-1", **{"User-Agent": "Mozilla/5.0 (iPhone; ...)"})
        assert status == 200
        assert await scans(api) == [(T0.isoformat(), "TR-1", None)]


async def test_headers_public_short_cache_strict_policy_no_cookie(api: Api) -> None:
    """HTML with a CSP that allows only its own style element (by hash), no script, no frame;
    cached publicly for 30 s; no cookie; no referrer to the reviews site."""
    await put(api, "TR-1")
    answer = await api.client.get(f"/q/{api.controller.store}/TR-1")
    assert answer.status_code == 200
    headers = answer.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=30"
    assert "set-cookie" not in headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    policy = dict(
        part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";")
    )
    [style] = re.findall(r"<style>(.*?)</style>", answer.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy == {
        "default-src": "'none'",
        "style-src": f"'sha256-{digest}'",
        "img-src": "data:",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }


async def test_one_light_document_with_nothing_to_fetch(api: Api) -> None:
    """Even a style of 60 variants with long names stays far under 100 KB, and the document
    references nothing else: no script, stylesheet, font or image URL."""
    long_name = "Uzun " * 39 + "Ad"
    for n in range(60):
        await put(
            api,
            f"J-{n:02d}",
            **(jacket(f"{n:02d}", "Çok Uzun Bir Renk Adı", n) | {"name": long_name}),
        )
    await put(api, "J-00", **(jacket("00", "Lacivert", 1) | {"name": long_name}))
    answer = await api.client.get(f"/q/{api.controller.store}/J-00")
    assert answer.status_code == 200
    assert len(answer.content) < 100_000
    assert len(re.findall(r"<li[ >]", answer.text)) == 60
    assert not re.search(r"<script|<link rel=\"stylesheet|<img|@import|url\(http|src=", answer.text)


HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


async def test_every_value_is_escaped(api: Api) -> None:
    """Markup in an item's name, brand, variant, family and promotion text and in a label's
    location comes out as text, never as tags or attributes."""
    await put(
        api,
        "X-1",
        name=HOSTILE,
        brand="<b>Ülker</b>",
        variant='" onmouseover="alert(3)',
        price="20.00",
        promotion={
            "price": "15.00",
            "starts_at": (T0 - timedelta(days=1)).isoformat(),
            "text": "<i>x</i>",
        },
        family={"style": "XS", "size": "<u>", "colour": "&amp;"},
    )
    await put(api, "X-2", family={"style": "XS", "size": "M"})
    await api.add_label("lbl-00001")
    linked = await api.client.post(
        "/api/v1/labels/lbl-00001/link",
        json={"item": "X-1", "location": "<svg onload=alert(4)>"},
        headers=api.as_("staff"),
    )
    assert linked.status_code == 200
    status, html = await page(api, "X-1")
    assert status == 200
    for raw in ["<script>", "<img", "<b>", "<i>", "<u>", "<svg onload", '" onmouseover']:
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img" in html
    assert "&amp;amp;" in html
    shown = text_of(html)
    assert HOSTILE in shown
    assert "<svg onload=alert(4)>" in shown


@pytest.mark.parametrize(
    ("locale", "currency", "expected"),
    [
        ("az-AZ", "AZN", ["Mağazada harada", "12,50 ₼", "Hələ rəy yoxdur"]),
        ("en-US", "USD", ["Where in the store", "$12.50", "No reviews yet"]),
    ],
)
async def test_the_page_speaks_the_stores_language(
    tmp_path: Path, locale: str, currency: str, expected: list[str]
) -> None:
    """An Azerbaijani or American store's page: its words and its money."""
    async with open_api(settings_for(tmp_path, "s-lang", locale=locale)) as api:
        await put(api, "TR-1", currency=currency)
        await api.add_label("lbl-00001")
        await api.client.post(
            "/api/v1/labels/lbl-00001/link",
            json={"item": "TR-1", "location": "Aisle 3 / Shelf 2"},
            headers=api.as_("staff"),
        )
        status, html = await page(api, "TR-1")
    assert status == 200
    assert f'<html lang="{locale[:2]}">' in html
    shown = text_of(html).replace(NBSP, " ")
    for phrase in expected:
        assert phrase.replace(NBSP, " ") in shown


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OMNISHELF_SHOPPER_PAGE=false turns the page off (the redirect: test_api_scans.py)."""
    assert Settings(_env_file=None).shopper_page is True
    monkeypatch.setenv("OMNISHELF_SHOPPER_PAGE", "false")
    assert Settings(_env_file=None).shopper_page is False
