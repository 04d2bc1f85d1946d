"""Issue 12 over the real HTTP stack: the poison items of finding 1 are 422 naming the field
(never 500, never the input echoed), and a versionless PUT cannot lower a version (finding 6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.state.catalog_repo import get_item
from tests.controller.api.api_kit import Api, item

BIG = 9223372036854775808  # 2**63
PROMO = {"price": "1.00", "starts_at": "2026-01-01T00:00:00+00:00"}


def _huge(**fields: str) -> bytes:
    """An item whose named fields are integer literals of 5,000 digits (json.dumps cannot
    write them: Python refuses to convert more than 4,300 digits)."""
    text = json.dumps(item(**dict.fromkeys(fields, "HUGE")))
    return text.replace('"HUGE"', "9" * 5000).encode()


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


async def _put(api: Api, sku: str, body: bytes) -> Any:
    headers = api.as_("staff") | {"content-type": "application/json"}
    return await api.client.put(f"/api/v1/items/{sku}", content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "loc", "reason"),
    [
        (json.dumps(item(version=BIG)).encode(), ["body", "version"], "less than or equal"),
        (json.dumps(item(name="\ud800")).encode(), ["body", "name"], "unicode"),
        (json.dumps(item(name="Fiyat \u202e09,99")).encode(), ["body", "name"], "U+202E"),
        (
            json.dumps(item(promotion=PROMO | {"ends_at": "9999-12-31T23:59:59-14:00"})).encode(),
            ["body", "promotion", "ends_at"],
            "2000 to 2099",
        ),
        (
            json.dumps(item(promotion=PROMO | {"starts_at": "0001-01-01T00:00:00+00:00"})).encode(),
            ["body", "promotion", "starts_at"],
            "2000 to 2099",
        ),
        (
            json.dumps(
                item(net_quantity={"value": "0.000000000000000000001", "unit": "g"})
            ).encode(),
            ["body", "net_quantity", "value"],
            "at least 0.001",
        ),
        (_huge(version="x"), ["body", "version"], "finite"),
        (_huge(price="x"), ["body", "price"], "finite"),
        (_deep(50_000), ["body"], "nested 50000 deep"),
        (_deep(200_000), ["body"], "400,000 bytes"),
        (json.dumps(item() | {"\ud800": 1}).encode(), ["body"], "unicode"),  # a key
    ],
)
async def test_finding_1_poison_items_over_rest_are_422_naming_the_field(
    api: Api, body: bytes, loc: list[str], reason: str
) -> None:
    """Each poison item of finding 1 is a 422 with the field's location and the reason, small
    (the input is not echoed) and encodable; nothing is stored."""
    answer = await _put(api, "TR-1", body)
    assert answer.status_code == 422, answer.text
    assert len(answer.content) < 2_000
    problems = answer.json()["detail"]
    assert any(p["loc"] == loc and reason in p["msg"] for p in problems), problems
    assert all("input" not in p for p in problems)
    assert await get_item(api.controller.conn, "TR-1") is None


async def test_finding_1_a_batch_keeps_its_valid_changes_beside_poison_ones(api: Api) -> None:
    """A REST batch with a 2^63 version and a year-1 promotion stores its valid change and
    answers each poison one with its index and reason."""
    batch = {
        "batch_id": "b-poison",
        "changes": [
            {"op": "upsert", "item": item("A-1", version=BIG)},
            {"op": "delete", "sku": "A-1", "version": BIG},
            {"op": "upsert", "item": item("A-2")},
            {
                "op": "upsert",
                "item": item("A-3", promotion=PROMO | {"starts_at": "0001-01-01T00:00:00Z"}),
            },
        ],
    }
    answer = await api.client.post("/api/v1/items/batch", json=batch, headers=api.as_("staff"))
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert (outcome["batch_id"], outcome["stored"], outcome["rejected"]) == ("b-poison", 1, 3)
    reasons = {entry["index"]: entry["reason"] for entry in outcome["results"]}
    assert reasons[0].startswith("item.version:")
    assert reasons[1].startswith("version:")
    assert reasons[2] is None
    assert reasons[3].startswith("item.promotion.starts_at:")
    assert await get_item(api.controller.conn, "A-2") is not None


async def test_a_deep_batch_is_422_before_parsing(api: Api) -> None:
    """A batch nested 100,000 deep is refused as a whole with the reason, not a 400 or 500."""
    headers = api.as_("staff") | {"content-type": "application/json"}
    body = b'{"changes": ' + _deep(100_000) + b"}"
    answer = await api.client.post("/api/v1/items/batch", content=body, headers=headers)
    assert answer.status_code == 422
    assert "nested 100001 deep" in answer.json()["detail"][0]["msg"]


async def test_finding_6_a_versionless_put_keeps_the_version_and_a_replay_stays_stale(
    api: Api,
) -> None:
    """PUT version 5, then a staff PUT without a version: the stored version stays 5, so a
    replayed version 3 is stale and the price does not go back; version 6 still wins."""
    staff = api.as_("staff")
    put = api.client.put
    assert (await put("/api/v1/items/TR-1", json=item(version=5), headers=staff)).is_success
    edit = await put("/api/v1/items/TR-1", json=item(price="7.00"), headers=staff)
    assert edit.json()["outcome"] == "accepted"
    stored = await get_item(api.controller.conn, "TR-1")
    assert stored is not None
    assert (stored.version, str(stored.price)) == (5, "7.00")
    replay = await put("/api/v1/items/TR-1", json=item(version=3, price="1.00"), headers=staff)
    assert replay.json()["outcome"] == "stale"
    stored = await get_item(api.controller.conn, "TR-1")
    assert stored is not None
    assert str(stored.price) == "7.00"
    newer = await put("/api/v1/items/TR-1", json=item(version=6, price="8.00"), headers=staff)
    assert newer.json()["outcome"] == "accepted"


async def test_finding_1_a_delete_with_version_2_63_is_422(api: Api) -> None:
    """DELETE /items/{sku}?version=2^63 is refused on the version, and the item stays."""
    staff = api.as_("staff")
    await api.client.put("/api/v1/items/TR-1", json=item(version=1), headers=staff)
    answer = await api.client.delete(f"/api/v1/items/TR-1?version={BIG}", headers=staff)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "version"]
    assert await get_item(api.controller.conn, "TR-1") is not None
