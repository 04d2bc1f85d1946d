"""The demo's shop floor (controller/demo/shop_floor.py): each lane linked to a weighable grocery
item that the simulated lane really holds, the store opening with some lanes low or empty, the
rooms carrying the clothing's tags, and all of it in the new store's state before the controller
starts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from broker_access.address import BrokerAddress
from controller.api.shelves import catalog_grams
from controller.demo.catalog import demo_catalog
from controller.demo.clothing import clothing
from controller.demo.shop_floor import (
    DEMO_SHELF_NOISE,
    SHELF_SHOPPERS_AFTER_S,
    ShopFloor,
    build_floor,
)
from controller.demo.stack import open_store
from controller.state.database import open_database
from controller.state.devices_repo import device
from controller.state.shelves_repo import lane_links
from device_sim.fitting_room import SimFittingRoom
from device_sim.shelf_sensor import SimShelfSensor
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store
from gs1.epc import identify

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ITEMS = demo_catalog(NOW, skus=120)


def floor(sensors: int = 4, rooms: int = 2) -> ShopFloor:
    return build_floor("s1", ITEMS, sensors=sensors, fitting_rooms=rooms, seed=1, at=NOW)


def sensors_of(built: ShopFloor) -> list[SimShelfSensor]:
    return [
        d for gw in built.gateways for d in gw.devices.values() if isinstance(d, SimShelfSensor)
    ]


def rooms_of(built: ShopFloor) -> list[SimFittingRoom]:
    return [
        d for gw in built.gateways for d in gw.devices.values() if isinstance(d, SimFittingRoom)
    ]


def test_every_lane_is_linked_to_the_item_the_simulated_lane_holds() -> None:
    """4 sensors have 20 lanes (the 3rd has 8), each linked to a different grocery item of 80 g
    to 1.5 kg whose weight is the link's unit weight and the simulated lane's; low stock is a
    quarter of the capacity, 6 to 16 units."""
    built = floor()
    items = {item.sku: item for item in ITEMS}
    sims = sensors_of(built)
    assert [s.device_id for s in sims] == ["shelf-001", "shelf-002", "shelf-003", "shelf-004"]
    assert built.sensors == {s.device_id: int(s.model.id) for s in sims}
    assert len(built.lanes) == 20
    assert len({link.sku for link in built.lanes}) == 20
    plans = [(s.device_id, n, plan) for s in sims for n, plan in enumerate(s.planogram)]
    for link, (device_id, lane, plan) in zip(built.lanes, plans, strict=True):
        assert (link.device_id, link.lane) == (device_id, lane)
        grams = catalog_grams(items[link.sku])
        assert grams is not None
        assert 80 <= grams <= 1500
        assert link.unit_g == grams
        assert plan.unit_grams == round(grams)
        assert link.capacity == plan.capacity
        assert 6 <= plan.capacity <= 16
        assert link.low_stock == max(1, plan.capacity // 4)
        assert (link.linked_at, link.linked_by) == (NOW, "demo-setup")


def test_the_store_opens_with_some_lanes_low_and_some_empty() -> None:
    """The 2nd, 10th and 18th lanes open at their low-stock level, the 4th and 20th empty, the
    others above low stock: the first counts raise alerts."""
    built = floor()
    plans = [plan for s in sensors_of(built) for plan in s.planogram]
    for index, (plan, link) in enumerate(zip(plans, built.lanes, strict=True)):
        if index in (3, 19):
            assert plan.count == 0, index
        elif index in (1, 9, 17):
            assert plan.count == link.low_stock, index
        else:
            assert link.low_stock < plan.count <= plan.capacity, index


def test_shelves_and_rooms_behave_as_the_demo_needs() -> None:
    """Sensors report every second with the demo's noise model and see no shopper for 40 s;
    rooms listen always and have shoppers from the start, bringing the clothing's tags."""
    built = floor()
    for sensor in sensors_of(built):
        assert sensor.noise is DEMO_SHELF_NOISE
        assert (sensor.behaviour.checkin_s, sensor.behaviour.resume_after_s) == (0.0, 1.0)
        assert sensor.behaviour.shoppers_after_s == SHELF_SHOPPERS_AFTER_S
    rooms = rooms_of(built)
    assert [r.device_id for r in rooms] == ["fit-01", "fit-02"]
    clothes = {item.gtin for item in clothing()}
    for room in rooms:
        assert (room.behaviour.checkin_s, room.behaviour.shoppers_after_s) == (0.0, 0.0)
        assert room.catalogue_epcs
        assert {identify(tag).gtin13 for tag in room.catalogue_epcs} == clothes


def test_a_floor_of_nothing() -> None:
    """0 sensors and 0 rooms: no device, no lane."""
    built = floor(0, 0)
    assert (built.gateways, built.lanes, built.sensors, built.rooms) == ([], [], {}, {})


async def test_the_new_store_knows_the_floor_before_the_controller_starts(tmp_path: Path) -> None:
    """open_store registers and adopts every sensor and room with its model and links every
    lane as build_floor planned it."""
    built = floor()
    labels = build_store(StoreSpec("s1", 5), built.gateways[0].behaviour)
    simulator = Simulator(labels, BrokerAddress("127.0.0.1", 1), "secret")
    db = tmp_path / "state.db"
    await open_store(db, simulator, ITEMS, NOW, built)
    async with open_database(db) as conn:
        for device_id, model_id in (built.sensors | built.rooms).items():
            found = await device(conn, device_id)
            assert found is not None
            assert (found.model, found.gateway_id, found.adopted) == (model_id, device_id, True)
        stored = await lane_links(conn)
    key = [(lk.device_id, lk.lane, lk.sku, lk.unit_g, lk.low_stock, lk.capacity) for lk in stored]
    assert sorted(key) == sorted(
        (lk.device_id, lk.lane, lk.sku, lk.unit_g, lk.low_stock, lk.capacity) for lk in built.lanes
    )
