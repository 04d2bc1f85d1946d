"""Catalog items over REST: staff edits are stored and audited, bad ones named, batches partial."""

from __future__ import annotations

from controller.state.catalog_repo import get_item
from tests.controller.api.api_kit import Api, gtin_of, item


async def test_staff_puts_an_item_stored_and_audited(api: Api) -> None:
    """A staff PUT stores the item (readable back) and audits it with the token's name."""
    answer = await api.client.put(
        "/api/v1/items/TR-1", json=item(price="9.90"), headers=api.as_("staff")
    )
    assert answer.status_code == 200
    assert answer.json() == {"sku": "TR-1", "outcome": "accepted"}
    stored = await get_item(api.controller.conn, "TR-1")
    assert stored is not None
    assert str(stored.price) == "9.90"
    read = await api.client.get("/api/v1/items/TR-1", headers=api.as_("viewer"))
    assert read.json()["price"] == "9.90"
    [entry] = await api.audit("item:TR-1")
    assert (entry["action"], entry["actor"]) == ("item.upsert", "staff")


async def test_invalid_item_is_422_naming_the_field(api: Api) -> None:
    """A negative price and an unknown field are 422 with `loc` naming each field."""
    answer = await api.client.put(
        "/api/v1/items/TR-1", json=item(price="-1", colour="red"), headers=api.as_("staff")
    )
    assert answer.status_code == 422
    locs = [error["loc"] for error in answer.json()["detail"]]
    assert ["body", "price"] in locs
    assert ["body", "colour"] in locs
    assert await get_item(api.controller.conn, "TR-1") is None


async def test_path_and_body_sku_must_agree(api: Api) -> None:
    """PUT /items/A with an item whose sku is B is 422 on body.sku, and nothing is stored."""
    answer = await api.client.put("/api/v1/items/TR-1", json=item("TR-2"), headers=api.as_("staff"))
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "sku"]
    assert await get_item(api.controller.conn, "TR-2") is None


async def test_batch_keeps_valid_changes_and_names_each_invalid_one(api: Api) -> None:
    """A batch with invalid changes stores the valid ones; each invalid one has index + reason."""
    staff = api.as_("staff")
    await api.client.put("/api/v1/items/OLD-1", json=item("OLD-1"), headers=staff)
    batch = {
        "batch_id": "b-7",
        "changes": [
            {"op": "upsert", "item": item("A-1")},
            {"op": "upsert", "item": item("A-2", price="abc")},
            {"op": "delete", "sku": "OLD-1"},
            {"op": "rename", "sku": "A-1"},
            "not a change",
            {"op": "upsert", "item": item("A-3", version=4)},
        ],
    }
    answer = await api.client.post("/api/v1/items/batch", json=batch, headers=staff)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["batch_id"], body["stored"], body["rejected"]) == ("b-7", 3, 3)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r["outcome"] for r in results] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert results[1]["sku"] == "A-2"
    assert results[1]["reason"].startswith("item.price")
    assert results[3]["reason"].startswith("op:")
    assert results[4]["sku"] is None
    conn = api.controller.conn
    assert await get_item(conn, "A-1") is not None
    assert await get_item(conn, "A-3") is not None
    assert await get_item(conn, "A-2") is None
    assert await get_item(conn, "OLD-1") is None
    [deleted, _] = await api.audit("item:OLD-1")
    assert (deleted["action"], deleted["actor"]) == ("item.delete", "staff")


async def test_batch_without_changes_is_422(api: Api) -> None:
    """A body that is not a batch (no `changes`) is 422 naming `changes`."""
    answer = await api.client.post(
        "/api/v1/items/batch", json={"batch_id": "b"}, headers=api.as_("staff")
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "changes"]


async def test_delete_stale_version_and_unknown_item(api: Api) -> None:
    """DELETE honours HQ versions (an older one is stale) and is 404 for an unknown item."""
    staff = api.as_("staff")
    await api.client.put("/api/v1/items/V-1", json=item("V-1", version=5), headers=staff)
    stale = await api.client.delete("/api/v1/items/V-1", params={"version": 4}, headers=staff)
    assert stale.json() == {"sku": "V-1", "outcome": "stale"}
    done = await api.client.delete("/api/v1/items/V-1", params={"version": 6}, headers=staff)
    assert done.json() == {"sku": "V-1", "outcome": "accepted"}
    assert (await api.client.delete("/api/v1/items/V-1", headers=staff)).status_code == 404
    negative = await api.client.delete("/api/v1/items/X", params={"version": -1}, headers=staff)
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"] == ["query", "version"]


async def test_search_by_name_sku_and_gtin(api: Api) -> None:
    """GET /items?q= finds items by part of the name, part of the SKU, or their GTIN."""
    staff = api.as_("staff")
    gtin = gtin_of("869000000001")
    await api.client.put(
        "/api/v1/items/TR-10", json=item("TR-10", name="Fındık Gofret", gtin=gtin), headers=staff
    )
    await api.client.put("/api/v1/items/TR-20", json=item("TR-20", name="Ekmek"), headers=staff)
    await api.client.put("/api/v1/items/AZ-30", json=item("AZ-30", name="Halva"), headers=staff)

    async def skus(q: str | None) -> list[str]:
        params = {"q": q} if q is not None else {}
        answer = await api.client.get("/api/v1/items", params=params, headers=api.as_("viewer"))
        assert answer.status_code == 200
        return [found["sku"] for found in answer.json()]

    assert await skus("gofret") == ["TR-10"]
    assert await skus("TR-") == ["TR-10", "TR-20"]
    assert await skus(gtin) == ["TR-10"]
    assert await skus("%") == []
    assert await skus(None) == ["AZ-30", "TR-10", "TR-20"]
