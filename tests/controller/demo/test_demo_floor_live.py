"""The demo's first minute on the shop floor, on the real stack (broker, simulator, controller,
web API) at real time: the shelves are counted and raise stock alerts, a fitting room is
answered. A small store: 20 labels, 4 shelf sensors (20 lanes), 2 fitting rooms."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.demo.clothing import clothing
from controller.demo.stack import DemoStack, running_demo
from device_sim.fitting_room import SimFittingRoom

WITHIN_S = 90.0  # the first counts take ~35 s of still shelves; rooms answer within seconds
GARMENTS = {item.name for item in clothing()}


async def _lanes(http: httpx.AsyncClient, demo: DemoStack) -> list[dict[str, Any]]:
    lanes: list[dict[str, Any]] = []
    for sensor in demo.sensors:
        answer = await http.get(f"/api/v1/sensors/{sensor}/lanes")
        assert answer.status_code == 200, answer.text
        lanes += [lane | {"device_id": sensor} for lane in answer.json()["linked"]]
    return lanes


def _answered_rooms(demo: DemoStack) -> list[SimFittingRoom]:
    rooms = [demo.floor.device(room_id) for room_id in demo.fitting_rooms]
    return [room for room in rooms if isinstance(room, SimFittingRoom) and room.display]


@pytest.mark.slow
async def test_the_first_minute_counts_the_shelves_and_answers_a_fitting_room(
    tmp_path: Path,
) -> None:
    """Within 90 s of opening (~35 s here): every lane linked and counted (GET /sensors/{id}/
    lanes), low and out-of-stock alerts about the lanes that opened low or empty (GET /alerts),
    and a room's STOCK_QUERY answered OK, its display showing the garment and its other sizes."""
    async with running_demo(
        tmp_path,
        labels=20,
        sensors=4,
        fitting_rooms=2,
        workers=1,
        catalog_interval_s=3600,
    ) as demo:
        headers = {"Authorization": f"Bearer {demo.tokens['viewer']}"}
        async with httpx.AsyncClient(base_url=demo.url, headers=headers, timeout=10) as http:
            async with asyncio.timeout(WITHIN_S):
                while True:
                    lanes = await _lanes(http, demo)
                    answer = await http.get("/api/v1/alerts", params={"limit": 100})
                    alerts = answer.json()["alerts"]
                    counted = all(lane["count"] is not None for lane in lanes)
                    stock_alerts = [
                        a
                        for a in alerts
                        if a["kind"] in ("low_stock", "out_of_stock") and a["state"] != "resolved"
                    ]
                    if counted and stock_alerts and _answered_rooms(demo):
                        break
                    await asyncio.sleep(1.0)
            stock = await http.get(f"/api/v1/stock/{lanes[0]['sku']}")
    assert demo.sensors == ["shelf-001", "shelf-002", "shelf-003", "shelf-004"]
    assert len(lanes) == demo.lanes == 20
    assert all(lane["linked_by"] == "demo-setup" for lane in lanes)
    assert all(lane["last_event"] is not None for lane in lanes)  # InitialCount at least
    states = {f"{lane['device_id']}/{lane['lane']}": lane["stock"] for lane in lanes}
    assert "low" in states.values()
    assert "out" in states.values()
    for alert in stock_alerts:
        assert (
            states[alert["subject"]] == {"low_stock": "low", "out_of_stock": "out"}[alert["kind"]]
        )
    assert stock.status_code == 200
    assert stock.json()["shelf"]["lanes"][0]["count"] == lanes[0]["count"]
    assert demo.controller.rooms.answered > 0
    room = _answered_rooms(demo)[0]
    assert 2 <= len(room.display) <= room.model.text_lines
    assert any(room.display[0].startswith(name) for name in GARMENTS), room.display
