"""The demo's clothing: every colour and size of a style is an item of its family, with a GTIN
the fitting rooms' RFID tags carry, and some sizes are sold out in the store but online."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from controller.catalog.items import CatalogItem
from controller.demo.catalog import demo_catalog
from controller.demo.clothing import APPAREL_COMPANY_PREFIX, STYLES, clothing
from device_sim.fitting_room import catalogue_tags
from gs1.epc import identify
from label_renderer.gtin import gtin13

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_each_colour_and_size_of_a_style_is_one_item_of_its_family() -> None:
    """One SKU per (colour, size) of each style, with the style, size, colour and collection
    the fitting rooms read; Turkish names, whole-lira prices; valid after a JSON round trip."""
    items = clothing()
    assert len(items) == sum(len(s.colours) * len(s.sizes) for s in STYLES)
    assert len({i.sku for i in items}) == len(items)
    for style in STYLES:
        variants = [i for i in items if i.family and i.family.style == style.code]
        assert {(i.family.colour, i.family.size) for i in variants if i.family} == {
            (colour, size) for colour in style.colours for size in style.sizes
        }
        assert {i.name for i in variants} == {f"{style.brand} {style.name}"}
        assert {i.price for i in variants} == {Decimal(style.price)}
    assert len({i.family.collection for i in items if i.family}) == 1  # rooms suggest the others
    assert any("ö" in i.name or "ı" in i.variant for i in items if i.variant)
    for item in items:
        assert CatalogItem.model_validate_json(item.model_dump_json()) == item
        assert (item.locale, item.currency) == ("tr-TR", "TRY")


def test_gtins_are_valid_under_the_demo_prefix_and_tags_name_them() -> None:
    """GTIN-13s with their check digit under the demo's 7-digit company prefix, all different;
    the SGTIN-96 tags the rooms carry identify as exactly those GTINs."""
    gtins = [i.gtin for i in clothing()]
    assert all(g is not None and gtin13(g) == g for g in gtins)
    assert all(g is not None and g.startswith(APPAREL_COMPANY_PREFIX) for g in gtins)
    assert len(set(gtins)) == len(gtins)
    tags = catalogue_tags([g for g in gtins if g], len(APPAREL_COMPANY_PREFIX))
    assert Counter(identify(tag).gtin13 for tag in tags) == Counter(
        {g: 3 for g in gtins if g is not None}
    )


def test_some_sizes_are_sold_out_in_the_store_but_online() -> None:
    """Every style has its first colour's largest size sold out and online; others in stock."""
    items = clothing()
    for style in STYLES:
        showcase = next(
            i
            for i in items
            if i.family
            and (i.family.style, i.family.colour, i.family.size)
            == (style.code, style.colours[0], style.sizes[-1])
        )
        assert showcase.stock is not None
        assert (showcase.stock.quantity, showcase.stock.online_available) == (0, True)
    quantities = [i.stock.quantity for i in items if i.stock]
    assert sum(1 for q in quantities if q) >= len(items) // 2


def test_the_demo_catalog_ends_with_the_clothing() -> None:
    """demo_catalog: the groceries (`skus` of them), then the clothing; seeded like the rest."""
    items = demo_catalog(NOW, skus=100)
    assert items[100:] == clothing()
    assert all(i.family is None for i in items[:100])
    assert clothing(seed=2) != clothing(seed=1)
    assert len({i.gtin for i in demo_catalog(NOW)}) == len(demo_catalog(NOW))
