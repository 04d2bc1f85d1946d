"""Relabel by location (issue 12, finding 8): exactly an aisle, or an aisle / shelf."""

from __future__ import annotations

from tests.controller.api.api_kit import Api, seed_shelves


async def _relabel(api: Api, location: str) -> int:
    answer = await api.client.post(
        "/api/v1/relabel", json={"location": location}, headers=api.as_("staff")
    )
    assert answer.status_code == 200, answer.text
    labels: int = answer.json()["labels"]
    return labels


async def _count(api: Api, location: str) -> int:
    answer = await api.client.get(
        "/api/v1/relabel/count", params={"location": location}, headers=api.as_("viewer")
    )
    assert answer.status_code == 200, answer.text
    labels: int = answer.json()["labels"]
    return labels


async def test_finding_8_relabel_by_aisle_is_not_a_prefix_match(api: Api) -> None:
    """'Reyon 1' takes aisle 1's three labels, not those of aisles 10 and 15 nor 'Reyon 1 Raf 2'
    (the old prefix match took all six)."""
    await seed_shelves(api)
    assert await _count(api, "Reyon 1") == 3
    assert await _relabel(api, "Reyon 1") == 3
    async with api.controller.conn.execute(
        "SELECT device_id FROM render_queue ORDER BY device_id"
    ) as cursor:
        queued = [row[0] for row in await cursor.fetchall()]
    assert queued == ["lbl-00001", "lbl-00002", "lbl-00003"]


async def test_relabel_by_aisle_and_shelf_ignores_case_and_spacing(api: Api) -> None:
    """'Reyon 1 / Raf 2' takes that shelf's labels however the location was typed."""
    await seed_shelves(api)
    assert await _count(api, "reyon 1 /  RAF 2") == 2
    assert await _relabel(api, "Reyon 1 / Raf 2") == 2
    assert await _count(api, "Reyon 1 / Raf") == 0
    assert await _count(api, "Reyon 1 Raf 2") == 1


async def test_an_empty_location_is_refused(api: Api) -> None:
    """A location of only slashes and spaces names nothing: 409, nothing queued."""
    await seed_shelves(api)
    answer = await api.client.post(
        "/api/v1/relabel", json={"location": " / "}, headers=api.as_("staff")
    )
    assert answer.status_code == 409
