"""Catalog messages from HQ: every invalid change is rejected with its reason, the rest kept."""

from __future__ import annotations

import json

from controller.catalog.feed import Delete, Upsert, parse_batch, parse_catalog_message

STORE = "ist-kadikoy"
PREFIX = f"omnishelf/{STORE}/catalog/"


def item(sku: str = "TR-1", price: str = "10.00", **extra) -> dict:
    return {"sku": sku, "name": "Çay", "currency": "TRY", "price": price} | extra


def parse(topic: str, body) -> tuple:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    parsed = parse_catalog_message(STORE, PREFIX + topic, payload)
    return parsed.changes, parsed.rejected


def test_single_item_upsert():
    """item/{sku} with a valid body is one upsert."""
    changes, rejected = parse("item/TR-1", item())
    assert rejected == ()
    assert isinstance(changes[0], Upsert)
    assert changes[0].item.sku == "TR-1"


def test_topic_and_body_sku_must_agree():
    """A body for another SKU than its topic is rejected, naming both."""
    _, rejected = parse("item/TR-2", item("TR-1"))
    assert rejected[0].reason == "sku: the body says 'TR-1', the topic 'TR-2'"


def test_batch_keeps_valid_changes_and_rejects_each_invalid_one():
    """Two bad changes in a batch of five: three are kept, each bad one has index and reason."""
    batch = {
        "batch_id": "b-1",
        "changes": [
            {"op": "upsert", "item": item("TR-1")},
            {"op": "upsert", "item": item("TR-2", price="1.999")},
            {"op": "delete", "sku": "TR-3", "version": 4},
            {"op": "rename", "sku": "TR-4"},
            {"op": "upsert", "item": item("TR-5")},
        ],
    }
    changes, rejected = parse("batch", batch)
    assert [type(c).__name__ for c in changes] == ["Upsert", "Delete", "Upsert"]
    assert changes[1] == Delete("TR-3", 4)
    assert [(r.index, r.reason) for r in rejected] == [
        (1, "item.price: Value error, has more than two decimals"),
        (3, "op: 'rename' is neither 'upsert' nor 'delete'"),
    ]
    assert rejected[0].original == batch["changes"][1]


def test_a_parsed_batch_lets_go_of_its_raw_changes():
    """parse_batch drops each raw change once it is parsed, so a store-wide batch is not held
    as JSON objects and as items at once; a rejected change keeps its original."""
    data = {"changes": [{"op": "upsert", "item": item("TR-1")}, {"op": "rename", "sku": "TR-4"}]}
    parsed = parse_batch(data)
    assert data["changes"] == [None, None]
    assert parsed.rejected[0].original == {"op": "rename", "sku": "TR-4"}
    (change,) = parsed.changes
    assert isinstance(change, Upsert)
    assert change.item.sku == "TR-1"


def test_dead_letter_carries_reason_and_original():
    """The dead letter is JSON with the topic, index, reason and the original change."""
    _, rejected = parse("batch", {"changes": [{"op": "upsert", "item": {"sku": "x y"}}]})
    letter = json.loads(rejected[0].dead_letter(PREFIX + "batch"))
    assert letter["index"] == 0
    assert letter["topic"] == PREFIX + "batch"
    assert "item.sku: String should match pattern" in letter["reason"]
    assert letter["original"] == {"op": "upsert", "item": {"sku": "x y"}}


def test_delete_with_and_without_version():
    """delete/{sku} takes {"version": n} or an empty payload; a bad version is rejected."""
    assert parse("delete/TR-1", {"version": 3})[0] == (Delete("TR-1", 3),)
    assert parse("delete/TR-1", b"")[0] == (Delete("TR-1", None),)
    _, rejected = parse("delete/TR-1", {"version": -1})
    assert rejected[0].reason == "version: -1 is not an integer from 0 to 9223372036854775807"


def test_payloads_that_are_not_json_or_not_utf8():
    """Broken payloads are rejected with where they broke."""
    _, rejected = parse("item/TR-1", b'{"sku": ')
    assert rejected[0].reason.startswith("payload: not JSON (Expecting value at line 1")
    _, rejected = parse("item/TR-1", b"\xff\xfe")
    assert rejected[0].reason.startswith("payload: not UTF-8")


def test_unknown_topics_and_malformed_batches():
    """An unknown catalog topic or a batch without a changes list is rejected as a whole."""
    assert parse("prices/TR-1", item())[1][0].reason.startswith("topic: unknown catalog topic")
    assert parse("batch", {"items": []})[1][0].reason == "changes: a batch needs a 'changes' list"
    other = parse_catalog_message(STORE, "omnishelf/other/catalog/item/TR-1", b"{}")
    assert other.rejected[0].reason.startswith("topic:")
