"""The catalog item format: invalid fields are refused by name; the schema doc is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.catalog.items import CatalogItem
from controller.catalog.schema import catalog_item_schema

ROOT = Path(__file__).parents[3]
VALID = {
    "sku": "TR-100231",
    "name": "Pınar Süzme Peynir",
    "currency": "TRY",
    "price": "189.90",
    "gtin": "8690504012344",
}


def errors_of(**changes) -> list[tuple[str, str]]:
    data = {k: v for k, v in (VALID | changes).items() if v is not None}
    with pytest.raises(ValidationError) as caught:
        CatalogItem.model_validate(data)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in caught.value.errors()]


def test_valid_item_parses_with_decimals_exact():
    """A minimal valid item keeps its price as an exact decimal."""
    item = CatalogItem.model_validate(VALID)
    assert str(item.price) == "189.90"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"sku": "TR 1"}, "sku", "pattern"),
        ({"sku": ""}, "sku", "pattern"),
        ({"name": ""}, "name", "at least 1"),
        ({"name": "a\nb"}, "name", "line breaks"),
        ({"price": "-1"}, "price", "greater than 0"),
        ({"price": "0"}, "price", "greater than 0"),
        ({"price": "1.999"}, "price", "two decimals"),
        ({"price": "NaN"}, "price", ""),
        ({"price": "abc"}, "price", ""),
        ({"currency": "try"}, "currency", "pattern"),
        ({"currency": "XYZ"}, "currency", "not an ISO 4217 currency code"),
        ({"gtin": "8690504012345"}, "gtin", "check digit 5, expected 4"),
        ({"gtin": "86905040"}, "gtin", "12 or 13 digits"),
        ({"locale": "de-DE"}, "locale", ""),
        ({"sold_by": "dozen"}, "sold_by", ""),
        ({"net_quantity": {"value": "0", "unit": "g"}}, "net_quantity.value", "greater than 0"),
        ({"net_quantity": {"value": "1", "unit": "oz"}}, "net_quantity.unit", ""),
        ({"stock": {"quantity": -1}}, "stock.quantity", "greater than or equal"),
        ({"reviews": {"rating": "5.5", "count": 1}}, "reviews.rating", "less than or equal"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"version": 2**63}, "version", "less than or equal to 9223372036854775807"),
        ({"version": True}, "version", "not a boolean"),
        ({"name": "Fiyat \u202e09,99"}, "name", "bidi controls (U+202E at position 6)"),
        ({"brand": "a\u2066b"}, "brand", "U+2066"),
        ({"origin": "a\x85b"}, "origin", "U+0085"),
        ({"net_quantity": {"value": "0.0005", "unit": "g"}}, "net_quantity.value", "at least"),
        ({"net_quantity": {"value": "1.2345", "unit": "kg"}}, "net_quantity.value", "3 decimals"),
        ({"stock": {"quantity": 10**13}}, "stock.quantity", "at most"),
        ({"reviews": {"rating": "4.444", "count": 1}}, "reviews.rating", "2 decimals"),
        (
            {"price_history": [{"price": "5", "valid_from": "1999-12-31T23:59:59+00:00"}]},
            "price_history.0.valid_from",
            "2000 to 2099",
        ),
        (
            {"promotion": {"price": "99", "starts_at": "2026-11-20T08:00:00"}},
            "promotion.starts_at",
            "timezone",
        ),
        (
            {
                "promotion": {
                    "price": "99",
                    "starts_at": "2026-11-20T08:00:00+03:00",
                    "ends_at": "2026-11-19T08:00:00+03:00",
                }
            },
            "promotion",
            "ends_at must be after starts_at",
        ),
        (
            {"promotion": {"price": "200", "starts_at": "2026-11-20T08:00:00+03:00"}},
            "promotion",
            "must be below the regular price",
        ),
        (
            {"price_history": [{"price": "5", "valid_from": "2026-11-01T00:00:00"}]},
            "price_history.0.valid_from",
            "timezone",
        ),
    ],
)
def test_invalid_field_is_named_with_its_reason(changes, field, reason):
    """Each invalid field is reported by its dotted path with a precise reason."""
    problems = errors_of(**changes)
    assert any(loc == field and reason in msg for loc, msg in problems), problems


def test_every_problem_is_reported_at_once():
    """Three bad fields give three problems, not just the first."""
    problems = errors_of(sku="a b", price="0", currency="x")
    assert {loc for loc, _ in problems} == {"sku", "price", "currency"}


def test_gtin12_is_stored_as_gtin13():
    """A UPC-A (GTIN-12) becomes its 13-digit form."""
    item = CatalogItem.model_validate(VALID | {"gtin": "036000291452"})
    assert item.gtin == "0036000291452"


def test_schema_document_is_current():
    """docs/catalog-item.schema.json is what the code accepts (regenerate: see docs/catalog.md)."""
    shipped = json.loads((ROOT / "docs" / "catalog-item.schema.json").read_text(encoding="utf-8"))
    assert shipped == catalog_item_schema()


def test_stored_items_are_read_without_the_entry_bounds():
    """An item an older controller stored (a year-1 promotion, a bidi character) is readable
    with from_stored, so one old row cannot make the catalog unreadable."""
    body = VALID | {
        "name": "Eski \u202e",
        "promotion": {"price": "1.00", "starts_at": "0001-01-01T00:00:00+00:00"},
    }
    item = CatalogItem.from_stored(json.dumps(body))
    assert item.promotion is not None
    assert item.promotion.starts_at.year == 1
