"""Labels over REST: link (by SKU or GTIN), unlink, relabel, page, and a label's state."""

from __future__ import annotations

from controller.state.render_queue import queued
from tests.controller.api.api_kit import Api, gtin_of, item


async def _linked(api: Api, device_id: str, sku: str, location: str) -> None:
    answer = await api.client.post(
        f"/api/v1/labels/{device_id}/link",
        json={"item": sku, "location": location},
        headers=api.as_("staff"),
    )
    assert answer.status_code == 200, answer.text


async def test_link_by_scanned_gtin_binds_the_item_carrying_it(api: Api) -> None:
    """Linking with the product's GTIN binds its item, queues a render, is audited, and shows."""
    gtin = gtin_of("869000000002")
    staff = api.as_("staff")
    await api.client.put("/api/v1/items/TR-7", json=item("TR-7", gtin=gtin), headers=staff)
    await api.add_label("lbl-00001")
    answer = await api.client.post(
        "/api/v1/labels/lbl-00001/link",
        json={"item": gtin, "template": None, "page": 1, "location": "aisle 3 / shelf 2"},
        headers=staff,
    )
    assert answer.status_code == 200
    assert answer.json()["sku"] == "TR-7"
    assert answer.json()["linked_by"] == "staff"
    assert await queued(api.controller.conn) == 1
    [entry] = await api.audit("label:lbl-00001")
    assert (entry["action"], entry["actor"]) == ("label.link", "staff")
    assert entry["detail"]["sku"] == "TR-7"

    shown = await api.client.get("/api/v1/labels/lbl-00001", headers=api.as_("viewer"))
    body = shown.json()
    assert body["binding"]["sku"] == "TR-7"
    assert body["device"]["location"] == "aisle 3 / shelf 2"
    assert body["image"] is None  # not rendered yet: the controller is not running


async def test_link_refusals_say_why(api: Api) -> None:
    """Unknown item or label → 404, unadopted label or unknown template → 409, bad page → 422."""
    staff = api.as_("staff")
    await api.client.put("/api/v1/items/TR-1", json=item(), headers=staff)
    await api.add_label("lbl-00001")
    await api.add_label("lbl-00002", adopt=False)

    async def link(device_id: str, **body: object) -> tuple[int, object]:
        answer = await api.client.post(
            f"/api/v1/labels/{device_id}/link", json={"item": "TR-1"} | body, headers=staff
        )
        return answer.status_code, answer.json()["detail"]

    status, detail = await link("lbl-00001", item=gtin_of("869000000003"))
    assert status == 404
    assert "GTIN" in str(detail)
    assert (await link("lbl-09999"))[0] == 404
    status, detail = await link("lbl-00002")
    assert (status, detail) == (409, "lbl-00002 is not adopted by this store")
    status, detail = await link("lbl-00001", template="no-such-template")
    assert status == 409
    assert "no-such-template" in str(detail)
    status, detail = await link("lbl-00001", page=9)
    assert status == 422
    assert isinstance(detail, list)
    assert detail[0]["loc"] == ["body", "page"]


async def test_unlink_is_audited_and_then_404(api: Api) -> None:
    """Unlinking removes the binding (audited); unlinking again is 404."""
    await api.client.put("/api/v1/items/TR-1", json=item(), headers=api.as_("staff"))
    await api.add_label("lbl-00001")
    await _linked(api, "lbl-00001", "TR-1", "aisle 1")
    gone = await api.client.delete("/api/v1/labels/lbl-00001/link", headers=api.as_("staff"))
    assert gone.status_code == 204
    again = await api.client.delete("/api/v1/labels/lbl-00001/link", headers=api.as_("staff"))
    assert again.status_code == 404
    actions = [e["action"] for e in await api.audit("label:lbl-00001")]
    assert actions == ["label.unlink", "label.link"]


async def test_relabel_counts_per_target(api: Api) -> None:
    """Relabel answers how many labels it queued for one label, an item, a shelf, the store."""
    staff = api.as_("staff")
    for sku in ("TR-1", "TR-2"):
        await api.client.put(f"/api/v1/items/{sku}", json=item(sku), headers=staff)
    for n, (sku, where) in enumerate(
        [("TR-1", "aisle 3 / shelf 1"), ("TR-1", "aisle 3 / shelf 2"), ("TR-2", "aisle 4")], 1
    ):
        await api.add_label(f"lbl-0000{n}")
        await _linked(api, f"lbl-0000{n}", sku, where)
    await api.add_label("lbl-00009")  # adopted, never linked

    async def relabel(body: dict[str, object]) -> int:
        answer = await api.client.post("/api/v1/relabel", json=body, headers=staff)
        assert answer.status_code == 200, answer.text
        labels: int = answer.json()["labels"]
        return labels

    assert await relabel({"sku": "TR-1"}) == 2
    assert await relabel({"location": "aisle 3"}) == 2
    assert await relabel({"location": "aisle 4"}) == 1
    assert await relabel({"whole_store": True}) == 3
    one = await api.client.post("/api/v1/labels/lbl-00003/relabel", headers=staff)
    assert one.json() == {"labels": 1}
    unlinked = await api.client.post("/api/v1/labels/lbl-00009/relabel", headers=staff)
    assert unlinked.status_code == 404
    both = await api.client.post(
        "/api/v1/relabel", json={"sku": "TR-1", "whole_store": True}, headers=staff
    )
    assert both.status_code == 422
    [store_wide] = await api.audit("store")
    assert (store_wide["actor"], store_wide["detail"]) == ("staff", {"labels": 3})


async def test_switch_page_rebinds_with_the_new_page(api: Api) -> None:
    """POST /page shows another page of the same item and template, audited as a link."""
    await api.client.put("/api/v1/items/TR-1", json=item(), headers=api.as_("staff"))
    await api.add_label("lbl-00001")
    await _linked(api, "lbl-00001", "TR-1", "aisle 1")
    answer = await api.client.post(
        "/api/v1/labels/lbl-00001/page", json={"page": 2}, headers=api.as_("staff")
    )
    assert answer.status_code == 200
    assert (answer.json()["sku"], answer.json()["page"]) == ("TR-1", 2)
    [latest, _] = await api.audit("label:lbl-00001")
    assert latest["detail"]["page"] == 2
    missing = await api.client.post(
        "/api/v1/labels/lbl-00001/page", json={"page": "two"}, headers=api.as_("staff")
    )
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "page"]


async def test_viewer_cannot_link_or_relabel(api: Api) -> None:
    """Label writes need staff: a viewer gets 403 and nothing is queued."""
    viewer = api.as_("viewer")
    await api.add_label("lbl-00001")
    link = await api.client.post(
        "/api/v1/labels/lbl-00001/link", json={"item": "TR-1"}, headers=viewer
    )
    assert link.status_code == 403
    relabel = await api.client.post("/api/v1/relabel", json={"whole_store": True}, headers=viewer)
    assert relabel.status_code == 403
    assert await queued(api.controller.conn) == 0
