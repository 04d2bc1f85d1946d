"""The demo store's shop floor: smart shelves and fitting rooms, and the shoppers who use them.

`build_floor` makes the simulated devices and what the store's state must know of them before
the controller starts (`open_floor`, as the demo pre-links its labels):

- **Shelves.** Every lane of every shelf sensor holds one grocery item that has a net weight
  (80 g to 1.5 kg), in catalog order: the lane is linked to it (`LaneLink`, what
  `POST /sensors/{id}/lanes/{n}/link` makes: the item's weight as the unit weight, a capacity of
  about 5 kg of it, 6 to 16 units, low stock at a quarter of that) and the simulated lane holds
  that item (`LanePlan`), weighed with the noise model (hands, put-backs, drift; packs 0.5 % off
  the catalog at most). Most lanes open between low stock and full; the 2nd, 10th, 18th, ...
  lane of the store opens at its low-stock level and the 4th, 20th, 36th, ... empty.
- **Rooms.** Their shoppers bring the clothing's garments (`catalogue_tags` of its GTINs).

The floor's devices connect once the controller listens (stack.py), so nothing they say is lost,
and the first minute goes like this (t = 0: the floor connects):

- sensors report every lane once a second (always listening; the pipeline's stability window
  expects about 1 Hz, docs/shelves.md);
- t ~ 35 s: each lane's first level has held still for 30 s and is counted; the lanes that open
  low or empty raise low-stock and out-of-stock alerts, their labels' badge changes, HQ hears
  the counts;
- rooms: shoppers come from the start, 90 an hour per room (with 4 rooms the first one within
  ~10 s on average), each bringing 1-3 garments and asking which sizes and colours are in stock;
  half of them press for help (a help alert, escalated after 2 min unless staff acknowledge it,
  resolved when they leave 2-10 min later);
- t = 40 s: shoppers reach the shelves (`SHELF_SHOPPERS_AFTER_S`, after the first counts):
  20 sales an hour per lane, each counted ~35 s after it happened (from t ~ 75 s);
- a lane down to low stock is restocked 1.5-4 min later (the lanes that opened low or empty
  first), unit by unit, and counted again.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from controller.api.shelves import catalog_grams
from controller.catalog.items import CatalogItem
from controller.demo.clothing import APPAREL_COMPANY_PREFIX
from controller.state.devices_repo import register_device
from controller.state.shelves_repo import LaneLink, link_lane
from device_sim.behaviour import Behaviour
from device_sim.fitting_room import catalogue_tags
from device_sim.gateway import Gateway
from device_sim.shelf_sensor import LanePlan, ShelfNoise, SimShelfSensor
from device_sim.store import StoreSpec, build_store

SHELF_SHOPPERS_AFTER_S = 40.0  # the first counts take ~35 s of still lanes
LANE_GRAMS = (80.0, 1500.0)  # the items a weighing lane holds
LANE_LOAD_G = 5000.0  # what a lane holds of its item, about
LANE_CAPACITY = (6, 16)
LOW_EVERY, LOW_AT = 8, 1  # the 2nd, 10th, ... lane of the store opens at its low-stock level
EMPTY_EVERY, EMPTY_AT = 16, 3  # the 4th, 20th, ... lane opens empty

# Shelf sensors: always listening, a report every second; busy shelves, quick restocks.
DEMO_SHELVES = Behaviour(
    checkin_s=0.0,
    resume_after_s=1.0,
    sale_rate_per_h=20.0,
    restock_wait_s=(90.0, 240.0),
    shoppers_after_s=SHELF_SHOPPERS_AFTER_S,
)
# Fitting rooms: always listening (an answer shows at once); busy rooms, help often asked for.
DEMO_ROOMS = Behaviour(
    checkin_s=0.0,
    resume_after_s=1.0,
    fitting_visits_per_h=90.0,
    help_share=0.5,
)
# Packs weigh what the catalog says within 0.5 % (a lane of 16 is then counted at once, where
# 3 % would leave it uncertain until staff count it); a misplaced product every ~3 min somewhere
# in a store of 64 lanes, taken away within 2-10 min.
DEMO_SHELF_NOISE = ShelfNoise(
    pack_error=0.005, misplaced_per_h=0.3, misplaced_stays_s=(120.0, 600.0)
)


@dataclass(frozen=True, slots=True)
class ShopFloor:
    gateways: list[Gateway]  # one per sensor and room (they connect directly)
    lanes: list[LaneLink]  # every lane of every sensor, linked
    sensors: dict[str, int]  # sensor id -> model id
    rooms: dict[str, int]  # room id -> model id


def shelf_items(items: Sequence[CatalogItem]) -> list[tuple[CatalogItem, float]]:
    """The items a weighing lane can hold, in catalog order, with their weight in grams."""
    low, high = LANE_GRAMS
    weighed = [(item, catalog_grams(item)) for item in items]
    return [(item, grams) for item, grams in weighed if grams is not None and low <= grams <= high]


def lane_size(grams: float) -> tuple[int, int]:
    """A lane's capacity and low-stock level for an item of `grams`."""
    least, most = LANE_CAPACITY
    capacity = min(most, max(least, round(LANE_LOAD_G / grams)))
    return capacity, max(1, capacity // 4)


def opening_count(index: int, capacity: int, low_stock: int, rng: random.Random) -> int:
    """What the store's `index`-th lane holds when the floor opens."""
    if index % EMPTY_EVERY == EMPTY_AT:
        return 0
    if index % LOW_EVERY == LOW_AT:
        return low_stock
    return rng.randint(low_stock + 1, capacity)


def stock_shelves(
    sensors: Sequence[SimShelfSensor],
    items: Sequence[CatalogItem],
    *,
    seed: int,
    at: datetime,
) -> list[LaneLink]:
    """Give each sensor's lanes their items (the sensors' planograms) and return the links."""
    choices = shelf_items(items)
    if not choices:
        raise ValueError("the catalog has no item a weighing lane can hold")
    rng = random.Random(f"shelves:{seed}")  # noqa: S311 - demo data
    links: list[LaneLink] = []
    for sensor in sensors:
        plans: list[LanePlan] = []
        for lane in range(sensor.model.lanes):
            index = len(links)
            item, grams = choices[index % len(choices)]
            capacity, low_stock = lane_size(grams)
            count = opening_count(index, capacity, low_stock, rng)
            plans.append(LanePlan(round(grams), capacity, count))
            links.append(
                LaneLink(
                    sensor.device_id, lane, item.sku, grams, low_stock, capacity, at, "demo-setup"
                )
            )
        sensor.planogram = tuple(plans)
    return links


def room_tags(items: Sequence[CatalogItem]) -> tuple[str, ...]:
    """The RFID tags of the clothing on the floor: 3 of each garment (the items with a family;
    all of them carry GTINs under the demo's company prefix)."""
    gtins = [item.gtin for item in items if item.family is not None and item.gtin is not None]
    return catalogue_tags(gtins, len(APPAREL_COMPANY_PREFIX))


def build_floor(
    store: str,
    items: Sequence[CatalogItem],
    *,
    sensors: int,
    fitting_rooms: int,
    seed: int,
    at: datetime,
) -> ShopFloor:
    """The floor's simulated devices (shelf-001.., fit-01..) and the lanes to link."""
    shelves = build_store(
        StoreSpec(store, 0, sensors=sensors),
        dataclasses.replace(DEMO_SHELVES, seed=seed),
        shelf_noise=DEMO_SHELF_NOISE,
    )
    sims = [d for gw in shelves for d in gw.devices.values() if isinstance(d, SimShelfSensor)]
    lanes = stock_shelves(sims, items, seed=seed, at=at) if sims else []
    rooms = build_store(
        StoreSpec(store, 0, fitting_rooms=fitting_rooms),
        dataclasses.replace(DEMO_ROOMS, seed=seed),
        fitting_room_epcs=room_tags(items) if fitting_rooms else (),
    )
    return ShopFloor(
        gateways=shelves + rooms,
        lanes=lanes,
        sensors={d.device_id: int(d.model.id) for d in sims},
        rooms={d.device_id: int(d.model.id) for gw in rooms for d in gw.devices.values()},
    )


async def open_floor(conn: aiosqlite.Connection, floor: ShopFloor) -> None:
    """The floor in a new store's state: its devices registered and adopted, every lane linked
    (audited as demo-setup), before the controller starts and loads the links."""
    for device_id, model_id in (floor.sensors | floor.rooms).items():
        await register_device(conn, device_id, model=model_id, gateway_id=device_id, adopted=True)
    for link in floor.lanes:
        await link_lane(conn, link, audit_detail={"unit_from": "catalog"})
