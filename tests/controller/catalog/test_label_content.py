"""A catalog item at a moment -> what its label shows (promotion in force, legal figures, QR)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext, label_content, qr_url
from label_renderer.content import PriceKind, StockBadge, Unit

EXAMPLES = Path(__file__).parents[3] / "examples" / "items"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
STORE = StoreContext("ist-kadikoy", base_url="https://ist-kadikoy.store.example")


def item(**fields) -> CatalogItem:
    base = {"sku": "TR-1", "name": "Çay", "currency": "TRY", "price": "100.00"}
    return CatalogItem.model_validate(base | fields)


def promo(price: str, start: str, end: str | None = None, kind: str = "promotion") -> dict:
    return {"kind": kind, "price": price, "starts_at": start, "ends_at": end}


def test_promotion_switches_on_and_off_at_its_times():
    """Before the start the regular price shows, during it the promotion, after it regular again."""
    it = item(promotion=promo("80.00", "2026-12-01T08:00:00+03:00", "2026-12-08T00:00:00+03:00"))
    before = label_content(it, STORE, datetime(2026, 12, 1, 4, 59, tzinfo=UTC))
    during = label_content(it, STORE, datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    after = label_content(it, STORE, datetime(2026, 12, 7, 21, 0, tzinfo=UTC))
    assert (before.kind, before.price.amount) == (PriceKind.NORMAL, Decimal("100.00"))
    assert (during.kind, during.price.amount) == (PriceKind.PROMOTION, Decimal("80.00"))
    assert during.prior_price is not None
    assert during.prior_price.amount == Decimal("100.00")
    assert during.discount_percent == 20
    assert (after.kind, after.price.amount) == (PriceKind.NORMAL, Decimal("100.00"))


def test_prior_price_comes_from_the_history_and_drives_the_percentage():
    """Omnibus: 119.90 applied 20 days before, so the prior price is 119.90 and -16%."""
    it = CatalogItem.model_validate_json((EXAMPLES / "tr-gofret-promotion.json").read_text())
    content = label_content(it, STORE, NOW)
    assert content.prior_price is not None
    assert content.prior_price.amount == Decimal("119.90")
    assert content.price.amount == Decimal("99.90")
    assert content.discount_percent == 16  # 16.68% rounded down, never up


def test_no_reduction_claim_when_the_promotion_is_not_below_the_30_day_low():
    """A 'promotion' at or above the lowest recent price is shown as a plain price."""
    it = item(
        price="100.00",
        promotion=promo("90.00", "2026-11-20T00:00:00+03:00"),
        price_history=[
            {"price": "85.00", "valid_from": "2026-11-01T00:00:00+03:00"},
            {"price": "100.00", "valid_from": "2026-11-15T00:00:00+03:00"},
        ],
    )
    content = label_content(it, STORE, NOW)
    assert content.kind is PriceKind.NORMAL
    assert content.prior_price is None
    assert content.discount_percent is None
    assert content.price.amount == Decimal("90.00")


def test_clearance_kind_and_last_day_of_promotion():
    """Clearance keeps its kind; an end at midnight makes the day before the last day."""
    it = item(
        locale="az-AZ",
        currency="AZN",
        promotion=promo(
            "60.00", "2026-11-01T00:00:00+04:00", "2026-12-01T00:00:00+04:00", "clearance"
        ),
    )
    content = label_content(it, STORE, NOW)
    assert content.kind is PriceKind.CLEARANCE
    assert content.promo_ends == "30.11"


def test_unit_price_and_stock_badges():
    """Net quantity gives the unit price; stock figures give the badge."""
    it = item(net_quantity={"value": "500", "unit": "g"}, stock={"quantity": 3})
    content = label_content(it, STORE, NOW)
    assert content.unit_price is not None
    assert (content.unit_price.price.amount, content.unit_price.per) == (Decimal("200.00"), Unit.KG)
    assert content.stock is StockBadge.LOW
    assert label_content(item(stock={"quantity": 0}), STORE, NOW).stock is StockBadge.OUT
    online = item(stock={"quantity": 0, "online_available": True})
    assert label_content(online, STORE, NOW).stock is StockBadge.ONLINE
    pickup = item(stock={"quantity": 0, "pickup_available": True})
    assert label_content(pickup, STORE, NOW).stock is StockBadge.PICKUP
    assert label_content(item(stock={"quantity": 50}), STORE, NOW).stock is None


def test_qr_url_pattern_quotes_store_and_sku():
    """The pattern gets URL-quoted values, so a SKU cannot inject a path or a query."""
    context = StoreContext("ist/01", qr_pattern="https://reviews.example/{store}/p/{sku}")
    assert qr_url(context, "A.B-1") == "https://reviews.example/ist%2F01/p/A.B-1"
    assert qr_url(STORE, "TR-1") == "https://ist-kadikoy.store.example/q/ist-kadikoy/TR-1"


def test_store_locale_applies_unless_the_item_names_one():
    """The item's locale wins; otherwise the store's."""
    assert label_content(item(), STORE, NOW).locale == "tr-TR"
    assert label_content(item(locale="en-US"), STORE, NOW).locale == "en-US"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_example_item_is_valid(path):
    """examples/items/ hold valid catalog items that map to label content."""
    it = CatalogItem.model_validate(json.loads(path.read_text(encoding="utf-8")))
    content = label_content(it, STORE, NOW)
    assert content.sku == it.sku
    assert content.qr_url.endswith(f"/q/ist-kadikoy/{it.sku}")
