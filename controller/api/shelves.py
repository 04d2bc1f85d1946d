"""Smart shelves: link a shelf sensor's lane to an item, unlink it, see its lanes, and the staff
operations of the weight pipeline (a counted lane, an emptied lane's tare); an item's stock as
the store knows it (`GET /stock/{sku}`). docs/shelves.md.

Writes need the staff role and are audited with the token's name as actor (`shelf.link`,
`shelf.unlink`, `shelf.count`, `shelf.tare`), like label linking (labels.py). Each write is a
function of its own (`link_item`, `unlink_item`, `count_lane`, `tare_lane`; `sensor_view` for
GET lanes) that the console's sensor page calls too (console/sensor_pages.py), so a lane changed
there is checked, rebuilt and audited exactly as over REST. Refusals say why:
404 for an unknown sensor or item, 409 for a device that is no shelf sensor, a lane beyond the
lanes its model declares, a lane not linked, a unit weight the catalog does not give; 422 for a
body out of its bounds (a negative weight or count).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import ControllerDep, Staff, Viewer
from controller.api.item_lookup import resolve_item
from controller.catalog.items import CatalogItem, QuantityUnit
from controller.catalog.labels import stock_badge
from controller.operations import NotFound, OperationRefused
from controller.runtime import Controller
from controller.shelf_service import sensor_lanes
from controller.shelves import LaneCalibration, LaneCounter
from controller.state.audit_repo import append_audit
from controller.state.database import transaction
from controller.state.devices_repo import device
from controller.state.shelves_repo import (
    LaneLink,
    StoredShelfEvent,
    calibrations,
    lane_link,
    lane_links,
    last_events,
    link_lane,
    unlink_lane,
)
from controller.state.stock_repo import (
    lanes_of_item,
    shelf_summaries,
    upstream_of_item,
    upstream_position,
)

router = APIRouter(tags=["shelves"])

Lane = Annotated[int, Path(ge=0, le=63, description="0-based index into the sensor's lane_grams")]
MAX_UNIT_G = 100_000.0  # one unit of 100 kg: beyond, a typo


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LaneLinkBody(_Body):
    sku: Annotated[str, Field(min_length=1, max_length=64, description="a SKU or a GTIN")]
    unit_grams: Annotated[float, Field(gt=0, le=MAX_UNIT_G)] | None = Field(
        None, description="one unit's weight; default: the item's net quantity in g or kg"
    )
    low_stock: Annotated[int, Field(ge=0, le=10_000)] = 2
    capacity: Annotated[int, Field(ge=1, le=10_000)] | None = None


class CountBody(_Body):
    count: Annotated[int, Field(ge=0, le=10_000)]


class CalibrationView(BaseModel):
    tare_g: float
    unit_g: float
    noise_g: float
    unit_source: str
    source: str  # what last changed it: "linked", "tared by staff", "drift corrected ..."
    updated_at: datetime


class EventView(BaseModel):
    kind: str
    count: int | None
    detail: dict[str, Any]
    at: datetime


class LaneView(BaseModel):
    lane: int
    sku: str
    unit_g: float
    low_stock: int
    capacity: int | None
    linked_at: datetime
    linked_by: str
    count: int | None  # None: not read yet (no stable level since the controller started)
    stock: str | None  # "in-stock", "low", "out"
    calibration: CalibrationView | None
    last_event: EventView | None


class SensorLanes(BaseModel):
    device_id: str
    lanes: int  # declared by the sensor's model
    rejected_samples: int  # since the controller started
    linked: list[LaneView]


async def _sensor(controller: Controller, device_id: str, lane: int | None = None) -> int:
    """The lanes the sensor's model declares; refusals for anything else."""
    found = await device(controller.conn, device_id)
    if found is None:
        raise NotFound(f"no sensor {device_id!r} in the registry")
    lanes = sensor_lanes(found.model)
    if lanes is None:
        raise OperationRefused(f"{device_id} is not a shelf sensor")
    if not found.adopted:
        raise OperationRefused(f"{device_id} is not adopted by this store")
    if lane is not None and lane >= lanes:
        raise OperationRefused(f"{device_id} has lanes 0..{lanes - 1}; there is no lane {lane}")
    return lanes


def catalog_grams(item: CatalogItem) -> float | None:
    """One unit's weight from the catalog: its net quantity, when that is a weight."""
    net = item.net_quantity
    if net is None or net.unit not in (QuantityUnit.G, QuantityUnit.KG):
        return None
    grams = net.value * (Decimal(1000) if net.unit is QuantityUnit.KG else Decimal(1))
    return float(grams)


async def link_item(
    controller: Controller, device_id: str, lane: int, wanted: LaneLinkBody, actor: str
) -> LaneView:
    """Link the lane to the item `wanted.sku` names (a SKU or a GTIN), audited as `actor`; the
    sensor's counter is built again (its lanes count again from their next stable level)."""
    await _sensor(controller, device_id, lane)
    item = await resolve_item(controller.conn, wanted.sku)
    if item is None:
        raise NotFound(f"no item with SKU or GTIN {wanted.sku!r} in the catalog")
    unit_g = wanted.unit_grams if wanted.unit_grams is not None else catalog_grams(item)
    if unit_g is None:
        raise OperationRefused(f"item {item.sku!r} has no weight in the catalog: give unit_grams")
    if wanted.capacity is not None and wanted.low_stock >= wanted.capacity:
        raise OperationRefused(
            f"low_stock {wanted.low_stock} must be below the capacity {wanted.capacity}"
        )
    source = "request" if wanted.unit_grams is not None else "catalog"
    new = LaneLink(
        device_id,
        lane,
        item.sku,
        unit_g,
        wanted.low_stock,
        wanted.capacity,
        controller.clock(),
        actor,
    )
    await link_lane(controller.conn, new, audit_detail={"unit_from": source})
    await controller.shelves.reload(device_id)
    return await _lane_view(controller, device_id, lane)


async def unlink_item(controller: Controller, device_id: str, lane: int, actor: str) -> LaneLink:
    """Unlink the lane, audited as `actor`; the link it had. The sensor's counter is built
    again."""
    await _sensor(controller, device_id, lane)
    before = await unlink_lane(controller.conn, device_id, lane, at=controller.clock(), actor=actor)
    if before is None:
        raise OperationRefused(f"{device_id} lane {lane} is not linked")
    await controller.shelves.reload(device_id)
    return before


async def sensor_view(controller: Controller, device_id: str) -> SensorLanes:
    """The sensor's declared lanes and its linked ones as staff see them."""
    declared = await _sensor(controller, device_id)
    views = await _lane_views(controller, device_id, await lane_links(controller.conn, device_id))
    return SensorLanes(
        device_id=device_id,
        lanes=declared,
        rejected_samples=controller.shelves.rejected(device_id),
        linked=views,
    )


async def count_lane(
    controller: Controller, device_id: str, lane: int, count: int, actor: str
) -> LaneView:
    """Staff counted the lane (`LaneCounter.confirm`), audited as `actor`."""
    await _sensor(controller, device_id, lane)
    counter: LaneCounter = await controller.shelves.confirm(device_id, lane, count)
    detail = {"count": counter.count}
    await _audit(controller, (device_id, lane), actor, "shelf.count", detail)
    return await _lane_view(controller, device_id, lane)


async def tare_lane(controller: Controller, device_id: str, lane: int, actor: str) -> LaneView:
    """Staff emptied the lane: its stable level becomes its tare, audited as `actor`."""
    await _sensor(controller, device_id, lane)
    counter = await controller.shelves.tare(device_id, lane)
    detail = {"tare_g": round(counter.calibration.tare_g, 1)}
    await _audit(controller, (device_id, lane), actor, "shelf.tare", detail)
    return await _lane_view(controller, device_id, lane)


async def _audit(
    controller: Controller,
    target: tuple[str, int],
    actor: str,
    action: str,
    detail: dict[str, Any],
) -> None:
    device_id, lane = target
    async with transaction(controller.conn):
        await append_audit(
            controller.conn,
            at=controller.clock(),
            actor=actor,
            action=action,
            target=f"shelf:{device_id}/{lane}",
            detail=detail,
        )


@router.post("/sensors/{device_id}/lanes/{lane}/link", summary="Link a lane to an item (staff)")
async def link(
    device_id: str, lane: Lane, body: LaneLinkBody, controller: ControllerDep, token: Staff
) -> LaneView:
    return await link_item(controller, device_id, lane, body, token.name)


@router.post("/sensors/{device_id}/lanes/{lane}/unlink", summary="Unlink a lane (staff)")
async def unlink(
    device_id: str, lane: Lane, controller: ControllerDep, token: Staff
) -> SensorLanes:
    await unlink_item(controller, device_id, lane, token.name)
    return await sensor_view(controller, device_id)


@router.get("/sensors/{device_id}/lanes", summary="A sensor's linked lanes and stock (viewer)")
async def lanes(device_id: str, controller: ControllerDep, _: Viewer) -> SensorLanes:
    return await sensor_view(controller, device_id)


@router.post("/sensors/{device_id}/lanes/{lane}/count", summary="Staff counted a lane (staff)")
async def count(
    device_id: str, lane: Lane, body: CountBody, controller: ControllerDep, token: Staff
) -> LaneView:
    return await count_lane(controller, device_id, lane, body.count, token.name)


@router.post("/sensors/{device_id}/lanes/{lane}/tare", summary="An emptied lane's tare (staff)")
async def tare(device_id: str, lane: Lane, controller: ControllerDep, token: Staff) -> LaneView:
    return await tare_lane(controller, device_id, lane, token.name)


async def _lane_view(controller: Controller, device_id: str, lane: int) -> LaneView:
    link = await lane_link(controller.conn, device_id, lane)
    if link is None:
        raise OperationRefused(f"{device_id} lane {lane} is not linked")
    return (await _lane_views(controller, device_id, [link]))[0]


async def _lane_views(
    controller: Controller, device_id: str, links: list[LaneLink]
) -> list[LaneView]:
    """The linked lanes as staff see them: a sensor's calibrations and last events in 2 queries."""
    stored = await calibrations(controller.conn, device_id)
    last = await last_events(controller.conn, device_id)
    return [_view(controller, link, stored, last) for link in links]


def _view(
    controller: Controller,
    link: LaneLink,
    stored: dict[tuple[str, int], tuple[LaneCalibration, str, datetime]],
    last_of: dict[int, StoredShelfEvent],
) -> LaneView:
    live = controller.shelves.lane(link.device_id, link.lane)
    kept = stored.get((link.device_id, link.lane))
    last = last_of.get(link.lane)
    cal = None
    if kept is not None:
        calibration, source, updated_at = kept
        cal = CalibrationView(
            tare_g=calibration.tare_g,
            unit_g=calibration.unit_g,
            noise_g=calibration.noise_g,
            unit_source=calibration.unit_source.value,
            source=source,
            updated_at=updated_at,
        )
    return LaneView(
        lane=link.lane,
        sku=link.sku,
        unit_g=link.unit_g,
        low_stock=link.low_stock,
        capacity=link.capacity,
        linked_at=link.linked_at,
        linked_by=link.linked_by,
        count=None if live is None else live.count,
        stock=None if live is None or live.state is None else live.state.value,
        calibration=cal,
        last_event=None
        if last is None
        else EventView(kind=last.kind, count=last.count, detail=last.detail, at=last.at),
    )


# ---- an item's stock ---------------------------------------------------------------------------


class CatalogStockView(BaseModel):
    quantity: int | None
    low_threshold: int
    online_available: bool
    pickup_available: bool


class LaneStockView(BaseModel):
    device_id: str
    lane: int
    count: int | None
    state: str | None
    updated_at: datetime


class ShelfStockView(BaseModel):
    count: int
    state: str = Field(description="ok, low or out: out when every counted lane is out")
    lanes: list[LaneStockView]


class UpstreamView(BaseModel):
    last_seq: int | None = Field(description="the store's last stock sequence number given")
    last_sent_seq: int | None = Field(description="the last one the broker acknowledged")
    unsent: int = Field(description="stock messages of the store waiting for the broker")
    recent: list[dict[str, Any]] = Field(description="this item's last messages, newest first")


class StockView(BaseModel):
    sku: str
    name: str
    badge: str | None = Field(description="what its labels show: low, out, online, pickup")
    catalog: CatalogStockView | None = Field(description="the catalog feed's figures")
    shelf: ShelfStockView | None = Field(description="what the smart shelves count now")
    upstream: UpstreamView


@router.get("/stock/{sku}", summary="An item's stock: catalog, shelves, what HQ was sent (viewer)")
async def stock(sku: str, controller: ControllerDep, _: Viewer) -> StockView:
    found = await resolve_item(controller.conn, sku)
    if found is None:
        raise NotFound(f"no item {sku!r}")
    conn = controller.conn
    summary = (await shelf_summaries(conn, [found.sku])).get(found.sku)
    lanes = await lanes_of_item(conn, found.sku)
    position = await upstream_position(conn)
    recent = await upstream_of_item(conn, found.sku, limit=10)
    badge = stock_badge(found.stock, summary.state if summary else None)
    return StockView(
        sku=found.sku,
        name=found.name,
        badge=None if badge is None else badge.value,
        catalog=None if found.stock is None else CatalogStockView(**found.stock.model_dump()),
        shelf=None
        if summary is None
        else ShelfStockView(
            count=summary.count,
            state=summary.state,
            lanes=[
                LaneStockView(
                    device_id=lane.device_id,
                    lane=lane.lane,
                    count=lane.count,
                    state=lane.state,
                    updated_at=lane.updated_at,
                )
                for lane in lanes
            ],
        ),
        upstream=UpstreamView(
            last_seq=position.last_seq,
            last_sent_seq=position.last_sent_seq,
            unsent=position.unsent,
            recent=[
                {"seq": row.seq, "sent": row.sent_at is not None} | row.document for row in recent
            ],
        ),
    )
