"""The demo catalog: realistic, valid and legally meaningful items."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from controller.catalog.items import CatalogItem, SoldBy
from controller.catalog.pricing import history_intervals, omnibus_prior_price
from controller.demo.catalog import demo_catalog, gtin_for, shelf_location
from label_renderer.gtin import gtin13

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_catalog_is_large_valid_and_unique() -> None:
    """At least 300 items, each valid after a JSON round trip, with unique SKUs and GTINs."""
    items = demo_catalog(NOW)
    assert len(items) >= 300
    assert len({i.sku for i in items}) == len(items)
    assert len({i.gtin for i in items}) == len(items)
    for item in items:
        again = CatalogItem.model_validate_json(item.model_dump_json())
        assert again == item
        assert item.gtin is not None
        assert gtin13(item.gtin) == item.gtin
        assert item.currency == "TRY"
        assert item.locale == "tr-TR"


def test_catalog_is_seeded() -> None:
    """The same seed gives the same catalog; another seed another one."""
    assert demo_catalog(NOW, seed=3) == demo_catalog(NOW, seed=3)
    assert demo_catalog(NOW, seed=3) != demo_catalog(NOW, seed=4)


def test_catalog_mixes_what_a_store_sells() -> None:
    """Loose produce by the kg, packs with net quantities (unit prices), Turkish names, stock."""
    items = demo_catalog(NOW)
    assert sum(i.sold_by is SoldBy.KG for i in items) >= 10
    assert sum(i.net_quantity is not None for i in items) >= 250
    assert sum(i.reviews is not None for i in items) >= 250
    assert any("ı" in i.name or "ş" in i.name or "ğ" in i.name for i in items)
    stocks = [i.stock.quantity for i in items if i.stock and i.stock.quantity is not None]
    assert any(q == 0 for q in stocks)
    assert any(0 < q <= 5 for q in stocks)
    assert all(i.price == i.price.quantize(Decimal("0.01")) for i in items)


def test_promotions_are_below_a_meaningful_prior_price() -> None:
    """About 15% on promotion, running now; the Omnibus prior price is below the regular price
    (a cheaper week in the 30 days before) and the promotion price below that."""
    items = demo_catalog(NOW)
    promoted = [i for i in items if i.promotion is not None]
    assert 0.08 * len(items) <= len(promoted) <= 0.25 * len(items)
    kinds = Counter(i.promotion.kind for i in promoted if i.promotion)
    assert kinds["promotion"]
    assert kinds["clearance"]
    for item in promoted:
        promo = item.promotion
        assert promo is not None
        assert item.promotion_at(NOW) is promo
        history = history_intervals((p.price, p.valid_from, p.valid_to) for p in item.price_history)
        prior = omnibus_prior_price(history, promo.starts_at, item.price)
        assert promo.price < prior < item.price, item.sku


def test_gtins_and_locations() -> None:
    """GTINs carry their check digit; labels fill the shelves aisle by aisle."""
    assert gtin13(gtin_for("869", 123)) == gtin_for("869", 123)
    assert gtin_for("20", 5).startswith("20")
    assert shelf_location(0) == "Reyon 1 / Raf 1"
    assert shelf_location(12) == "Reyon 1 / Raf 2"
    assert shelf_location(72) == "Reyon 2 / Raf 1"


def test_prices_look_like_shelf_prices() -> None:
    """Prices end in ,50 ,90 ,95 (or whole lira from 500 ₺ on)."""
    for item in demo_catalog(NOW):
        cents = item.price % 1
        assert cents in {Decimal("0.50"), Decimal("0.90"), Decimal("0.95")} or (
            cents == 0 and item.price >= 500
        ), item.price
