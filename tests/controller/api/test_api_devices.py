"""Devices, problems and audits over REST: filters, adoption, the price-accuracy audit."""

from __future__ import annotations

from controller.state.fleet_repo import record_death, record_telemetry, set_problem
from controller.state.labels_repo import Priority, plan_push
from tests.controller.api.api_kit import T0, Api, item


async def _fleet(api: Api) -> None:
    """Five labels: healthy, low battery, offline, failed, weak signal; one unadopted."""
    conn = api.controller.conn
    await api.add_label("lbl-00001")
    await api.add_label("lbl-00002", battery_mv=2100)
    await api.add_label("lbl-00003")
    await record_death(conn, "lbl-00003", 1, T0)
    await api.add_label("lbl-00004")
    await set_problem(conn, "lbl-00004", "transfer failed 6 times", T0)
    await api.add_label("lbl-00005")
    await record_telemetry(conn, "lbl-00005", battery_mv=3000, rssi=-95, at=T0)
    await api.add_label("lbl-00006", adopt=False)


async def test_device_filters(api: Api) -> None:
    """Each filter selects exactly the devices with that problem; total counts past the page."""
    await _fleet(api)

    async def ids(**params: str) -> list[str]:
        answer = await api.client.get("/api/v1/devices", params=params, headers=api.as_("viewer"))
        assert answer.status_code == 200
        return [d["device_id"] for d in answer.json()["devices"]]

    assert await ids(low_battery="true") == ["lbl-00002"]
    assert await ids(offline="true") == ["lbl-00003"]
    assert await ids(failed="true") == ["lbl-00004"]
    assert await ids(weak_signal="true") == ["lbl-00005"]
    assert await ids(adopted="false") == ["lbl-00006"]
    assert len(await ids(offline="false")) == 5
    paged = await api.client.get(
        "/api/v1/devices", params={"limit": 2, "offset": 2}, headers=api.as_("viewer")
    )
    assert paged.json()["total"] == 6
    assert [d["device_id"] for d in paged.json()["devices"]] == ["lbl-00003", "lbl-00004"]
    bad = await api.client.get("/api/v1/devices", params={"limit": 0}, headers=api.as_("viewer"))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_location_filter_is_a_prefix(api: Api) -> None:
    """?location= lists the devices placed under that location prefix."""
    staff = api.as_("staff")
    await api.client.put("/api/v1/items/TR-1", json=item(), headers=staff)
    for n, where in enumerate(["aisle 3 / shelf 1", "aisle 3 / shelf 2", "aisle 30"], 1):
        await api.add_label(f"lbl-0000{n}")
        await api.client.post(
            f"/api/v1/labels/lbl-0000{n}/link",
            json={"item": "TR-1", "location": where},
            headers=staff,
        )
    answer = await api.client.get(
        "/api/v1/devices", params={"location": "aisle 3 /"}, headers=api.as_("viewer")
    )
    assert [d["device_id"] for d in answer.json()["devices"]] == ["lbl-00001", "lbl-00002"]


async def test_problems_count_each_kind_and_unconfirmed_labels(api: Api) -> None:
    """GET /problems counts adopted devices per problem, unadopted ones, unconfirmed labels."""
    await _fleet(api)
    await plan_push(
        api.controller.conn, "lbl-00001", b"\x01" * 16, priority=Priority.SINGLE, reason="t", at=T0
    )
    answer = await api.client.get("/api/v1/problems", headers=api.as_("viewer"))
    assert answer.json() == {
        "offline": 1,
        "low_battery": 1,
        "failed": 1,
        "weak_signal": 1,
        "not_adopted": 1,
        "unconfirmed_labels": 1,
    }


async def test_price_accuracy_lists_unconfirmed_labels_since_when(api: Api) -> None:
    """The audit lists each label not reporting its desired image, with hashes and since when."""
    await api.add_label("lbl-00001")
    desired = bytes(range(16))
    await plan_push(
        api.controller.conn, "lbl-00001", desired, priority=Priority.SINGLE, reason="t", at=T0
    )
    answer = await api.client.get("/api/v1/audit/price-accuracy", headers=api.as_("viewer"))
    body = answer.json()
    assert body["unconfirmed"] == 1
    [label] = body["labels"]
    assert label["device_id"] == "lbl-00001"
    assert label["desired_hash"] == desired.hex()
    assert label["reported_hash"] is None
    assert label["since"] == T0.isoformat().replace("+00:00", "Z")
    shown = await api.client.get("/api/v1/labels/lbl-00001", headers=api.as_("viewer"))
    image = shown.json()["image"]
    assert (image["desired_hash"], image["confirmed"]) == (desired.hex(), False)


async def test_admin_adopts_a_device_audited(api: Api) -> None:
    """An admin adopts a seen device (audited); an unseen one is 404."""
    await api.add_label("lbl-00006", adopt=False)
    admin = api.as_("admin")
    answer = await api.client.post("/api/v1/devices/lbl-00006/adopt", headers=admin)
    assert answer.status_code == 204
    listed = await api.client.get(
        "/api/v1/devices", params={"adopted": "true"}, headers=api.as_("viewer")
    )
    assert [d["device_id"] for d in listed.json()["devices"]] == ["lbl-00006"]
    [entry] = await api.audit("device:lbl-00006")
    assert (entry["action"], entry["actor"]) == ("device.adopt", "admin")
    unseen = await api.client.post("/api/v1/devices/lbl-07777/adopt", headers=admin)
    assert unseen.status_code == 404
