"""The shoppers' QR-scan redirect (OMNISHELF_SHOPPER_PAGE=false): recorded, redirected only to
allowlisted HTTPS hosts. The page /q/ answers by default: test_api_shopper_page.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from controller.api import create_app
from controller.catalog.items import CatalogItem
from controller.runtime import Controller
from controller.settings import Settings
from controller.state.catalog_repo import store_item
from label_renderer.batch import BatchRenderer
from tests.controller.api.api_kit import T0, Api, item, settings_for


@pytest.fixture
def settings(tmp_path: Path, store_id: str) -> Settings:
    """The redirect, as before the shoppers' page (the `api` fixture takes these settings)."""
    return settings_for(tmp_path, store_id, shopper_page=False)


async def _scans(api: Api) -> list[tuple[str, str, str | None]]:
    async with api.controller.conn.execute("SELECT at, sku, user_agent FROM scans") as cursor:
        return [(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def test_scan_records_and_redirects_to_the_reviews_page(api: Api) -> None:
    """A scan without a token is recorded (the hour and the SKU; no user agent since the
    shoppers' page: state/scans_repo.py) and 302s to the reviews URL."""
    await store_item(api.controller.conn, CatalogItem.model_validate(item("TR-1")), T0)
    store = api.controller.store
    answer = await api.client.get(f"/q/{store}/TR-1", headers={"User-Agent": "phone/1.0"})
    assert answer.status_code == 302
    assert answer.headers["location"] == f"https://reviews.example/{store}/TR-1"
    assert await _scans(api) == [(T0.isoformat(), "TR-1", None)]


async def test_unknown_store_or_item_is_404_and_not_recorded(api: Api) -> None:
    """Another store's code or an unknown SKU is 404 with no redirect and no scan row."""
    await store_item(api.controller.conn, CatalogItem.model_validate(item("TR-1")), T0)
    for path in ["/q/other-store/TR-1", f"/q/{api.controller.store}/TR-404"]:
        answer = await api.client.get(path)
        assert answer.status_code == 404
        assert "location" not in answer.headers
    assert await _scans(api) == []


async def test_a_target_off_the_allowlist_is_404_never_a_redirect(api: Api, tmp_path: Path) -> None:
    """A reviews pattern pointing at a host not allowlisted gives 404, not an open redirect."""
    settings = settings_for(
        tmp_path / "other",
        api.controller.store,
        review_url_pattern="https://evil.example/{sku}",
        shopper_page=False,
    )
    controller = Controller(settings, api.controller.conn, BatchRenderer(1))
    app = create_app(settings, controller=controller)
    await store_item(api.controller.conn, CatalogItem.model_validate(item("TR-1")), T0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get(f"/q/{settings.store_id}/TR-1")
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert [sku for _, sku, _ in await _scans(api)] == ["TR-1"]  # the scan itself happened


async def test_a_sku_cannot_smuggle_a_host_or_path(api: Api) -> None:
    """A SKU with URL syntax is quoted into the allowlisted URL's path, never a new host."""
    sku = "TR-1.x"
    await store_item(api.controller.conn, CatalogItem.model_validate(item(sku)), T0)
    answer = await api.client.get(f"/q/{api.controller.store}/{sku}")
    assert answer.headers["location"].startswith("https://reviews.example/")
    tricky = await api.client.get(f"/q/{api.controller.store}/%2F%2Fevil.example")
    assert tricky.status_code == 404
