"""Shelf lanes over REST (controller/api/shelves.py): every refusal says why, writes are staff's
and audited."""

from __future__ import annotations

from typing import Any

from tests.controller.api.api_kit import Api, item
from tests.support.shelf_intake import Clock, Sensor

SENSOR = "shelf-00002"


async def _setup(api: Api) -> None:
    staff = api.as_("staff")
    weighed = item("TR-W", net_quantity={"value": "0.5", "unit": "kg"})
    await api.client.put("/api/v1/items/TR-W", json=weighed, headers=staff)
    liquid = item("TR-L", net_quantity={"value": "1", "unit": "l"})
    await api.client.put("/api/v1/items/TR-L", json=liquid, headers=staff)
    await api.add_label("lbl-00001")
    await Sensor(api.controller, Clock(api.controller.clock()), SENSOR).birth()


async def _post(api: Api, path: str, body: dict[str, Any] | None = None, role: str = "staff"):  # type: ignore[no-untyped-def]
    answer = await api.client.post(f"/api/v1/{path}", json=body, headers=api.as_(role))
    return answer.status_code, answer.json()


async def test_link_takes_the_catalog_weight_and_is_audited(shelf_api: Api) -> None:
    """A 0.5 kg item: 500 g a unit; the link is in the audit log with the staff token's name."""
    api = shelf_api
    await _setup(api)
    status, body = await _post(api, f"sensors/{SENSOR}/lanes/3/link", {"sku": "TR-W"})
    assert status == 200, body
    assert (body["unit_g"], body["low_stock"], body["linked_by"]) == (500.0, 2, "staff")
    assert body["calibration"]["tare_g"] == 0.0
    assert body["calibration"]["source"] == "linked"
    [entry] = await api.audit(f"shelf:{SENSOR}/3")
    assert (entry["action"], entry["detail"]["unit_from"]) == ("shelf.link", "catalog")

    status, body = await _post(api, f"sensors/{SENSOR}/lanes/3/unlink")
    assert (status, body["linked"]) == (200, [])
    assert [e["action"] for e in await api.audit(f"shelf:{SENSOR}/3")] == [
        "shelf.unlink",
        "shelf.link",
    ]


async def test_refusals_say_why(shelf_api: Api) -> None:
    """Unknown sensor or item 404; a label, a lane beyond the model's 4, a liquid without
    unit_grams, low_stock over capacity, an unlinked lane 409; bad numbers 422; roles 401/403."""
    api = shelf_api
    await _setup(api)
    lanes = f"sensors/{SENSOR}/lanes"
    cases: list[tuple[str, dict[str, Any] | None, int, str]] = [
        ("sensors/shelf-09999/lanes/0/link", {"sku": "TR-W"}, 404, "no sensor"),
        ("sensors/lbl-00001/lanes/0/link", {"sku": "TR-W"}, 409, "not a shelf sensor"),
        (f"{lanes}/4/link", {"sku": "TR-W"}, 409, "lanes 0..3"),
        (f"{lanes}/0/link", {"sku": "TR-NONE"}, 404, "no item"),
        (f"{lanes}/0/link", {"sku": "TR-L"}, 409, "give unit_grams"),
        (f"{lanes}/0/link", {"sku": "TR-W", "low_stock": 5, "capacity": 5}, 409, "below"),
        (f"{lanes}/0/unlink", None, 409, "not linked"),
        (f"{lanes}/0/count", {"count": 3}, 409, "not linked"),
        (f"{lanes}/0/tare", None, 409, "not linked"),
    ]
    for path, body, expected, why in cases:
        status, answer = await _post(api, path, body)
        assert (status, path) == (expected, path), answer
        assert why in answer["detail"], answer
    for path, body in [
        (f"{lanes}/0/link", {"sku": "TR-W", "unit_grams": -5}),
        (f"{lanes}/0/link", {"sku": "TR-W", "unit_grams": 0}),
        (f"{lanes}/0/link", {"sku": "TR-W", "low_stock": -1}),
        (f"{lanes}/0/link", {"sku": "TR-W", "capacity": 0}),
        (f"{lanes}/0/link", {"sku": "TR-W", "colour": "red"}),
        (f"{lanes}/-1/link", {"sku": "TR-W"}),
        (f"{lanes}/64/link", {"sku": "TR-W"}),
        (f"{lanes}/0/count", {"count": -1}),
    ]:
        assert (await _post(api, path, body))[0] == 422, (path, body)
    assert (await _post(api, f"{lanes}/0/link", {"sku": "TR-W"}, role="viewer"))[0] == 403
    anonymous = await api.client.post(f"/api/v1/{lanes}/0/link", json={"sku": "TR-W"})
    assert anonymous.status_code == 401
    assert (await api.client.get(f"/api/v1/{lanes}", headers=api.as_("viewer"))).json()[
        "linked"
    ] == []


async def test_tare_needs_a_stable_lane(shelf_api: Api) -> None:
    """A lane linked but not read yet cannot be tared (409); a staff count is taken, audited."""
    api = shelf_api
    await _setup(api)
    lane = f"sensors/{SENSOR}/lanes/1"
    assert (await _post(api, f"{lane}/link", {"sku": "TR-W", "unit_grams": 250}))[0] == 200
    status, body = await _post(api, f"{lane}/tare")
    assert (status, "not stable" in body["detail"]) == (409, True)
    status, body = await _post(api, f"{lane}/count", {"count": 6})
    assert (status, body["count"], body["stock"]) == (200, 6, "in-stock")
    assert body["last_event"]["kind"] == "CountConfirmed"
    actions = [e["action"] for e in await api.audit(f"shelf:{SENSOR}/1")]
    assert actions == ["shelf.count", "shelf.link"]
