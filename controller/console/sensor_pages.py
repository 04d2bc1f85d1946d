"""Smart shelves in the console (docs/shelves.md, "In the console"): the store's shelf sensors,
and a sensor's page where staff link its lanes to items by scanning, count, tare and unlink.

/sensors lists the store's shelf sensors (adopted devices of a shelf-sensor model): online or
not, lanes linked of those the model declares, lanes low and out (the live counters, as the
sensor's page shows them), and the unresolved alerts about the sensor and its lanes.

/sensors/{id} shows every lane the model declares (0..lanes-1): its item (the catalog's name),
count and stock state, unit weight and where it comes from, low-stock level and capacity, last
event: what `GET /api/v1/sensors/{id}/lanes` gives, from the same function (api/shelves.py
`sensor_view`). Staff's actions go through the API's own functions too (`link_item`,
`unlink_item`, `count_lane`, `tare_lane`): the same checks, the sensor's counter built again
after a link or an unlink, the same audit entries (`shelf.link`, `shelf.unlink`, `shelf.count`,
`shelf.tare`) with the console user's token name.

Linking is made for a barcode scanner, as a label's link is: a USB or Bluetooth scanner types the
code into the focused field and presses Enter. When the page opens, the first lane not linked
has its code field focused, and after a link the page comes back with the next one focused: scan,
scan, scan links a shelf lane after lane. The field takes a SKU or a GTIN; its `inputmode` is
numeric, for a phone without a scanner where staff type the digits under the barcode.

Actions are form posts answered with a redirect back (post/redirect/get); a refusal shows the page
again with the reason and its status (404 no such item; 409 the lane is not linked, has no stable
level to tare, the item has no weight; 422 a number out of its bounds), with the refused lane's
code field focused for the next scan. A viewer sees everything but no forms, and is refused (403)
if it posts anyway (session.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Query, Request, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.api.shelves import (
    CountBody,
    Lane,
    LaneLinkBody,
    LaneView,
    catalog_grams,
    count_lane,
    link_item,
    sensor_view,
    tare_lane,
    unlink_item,
)
from controller.catalog.items import CatalogItem
from controller.console.alert_pages import duration_words
from controller.console.session import StaffUser, User
from controller.console.templating import render
from controller.operations import NotFound, OperationRefused
from controller.runtime import Controller
from controller.shelf_service import sensor_lanes
from controller.shelves.calibration import UnitSource
from controller.state.alerts_repo import unresolved_by_device
from controller.state.catalog_repo import current_items
from controller.state.devices_repo import Device, device, devices_by_id
from controller.state.shelves_repo import lane_links, sensor_ids
from controller.state.tokens_repo import ApiToken
from firmware_protocol.models import ModelId, model

router = APIRouter()

SensorId = Annotated[str, Path(min_length=1, max_length=64)]
DONE = {
    "link": "Lane {lane} linked: it counts from its next stable level (about 35 s).",
    "unlink": "Lane {lane} unlinked.",
    "count": "Lane {lane}: your count is taken.",
    "tare": "Lane {lane} tared: what it weighs now is empty.",
}
STOCK_WORDS = {"in-stock": "in stock", "low": "low", "out": "out"}
# One unit's weight: where the counter's figure comes from.
LEARNED_WORDS = "learned from counted changes"
CATALOG_WORDS = "the catalog's net weight"
GIVEN_WORDS = "given when linked"


@dataclass(frozen=True, slots=True)
class SensorRow:
    device: Device
    href: str
    lanes: int  # declared by the model
    linked: int
    low: int
    out: int
    alerts: int  # unresolved, about the sensor or its lanes


@dataclass(frozen=True, slots=True)
class LaneRow:
    lane: int
    view: LaneView | None  # None: not linked
    name: str | None  # the item's name, if the catalog has it
    stock: str | None  # in words
    unit: str | None  # "365 g, the catalog's net weight"
    last: str | None  # "Low stock, 2 units, 3 min ago"
    done: str | None  # what was just done to it
    refused: str | None  # why what was just asked of it was not done
    focus: str | None  # the field focused when the page opens: "code" or "count"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the page says about one lane after an action, and where the focus goes."""

    lane: int
    done: str | None = None
    refused: str | None = None
    # "next": the first lane not linked, ready for the next scan; "code": this lane's code
    # field; "lane": this lane's own field (its count if linked, else its code); None: none
    focus: str | None = "next"


def sensor_href(device_id: str) -> str:
    return f"/sensors/{quote(device_id, safe='')}"


def _lanes_of(found: Device) -> int:
    return sensor_lanes(found.model) or 0


def event_words(kind: str) -> str:
    """A pipeline event's name for staff: "LowStock" -> "Low stock"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind).capitalize()


def grams_words(grams: float) -> str:
    return f"{round(grams, 1):g} g"


def unit_words(view: LaneView, item: CatalogItem | None) -> str:
    """The unit weight the lane counts with and where it comes from: learned by the pipeline,
    else the catalog's net weight or the one staff gave when linking."""
    cal = view.calibration
    if cal is not None and cal.unit_source == UnitSource.LEARNED.value:
        return f"{grams_words(cal.unit_g)}, {LEARNED_WORDS}"
    from_catalog = item is not None and catalog_grams(item) == view.unit_g
    return f"{grams_words(view.unit_g)}, {CATALOG_WORDS if from_catalog else GIVEN_WORDS}"


def _last_words(view: LaneView, now: datetime) -> str | None:
    event = view.last_event
    if event is None:
        return None
    counted = (
        "" if event.count is None else f", {event.count} unit{'' if event.count == 1 else 's'}"
    )
    return f"{event_words(event.kind)}{counted}, {duration_words(event.at, now)} ago"


def lane_rows(
    declared: int,
    linked: list[LaneView],
    items: dict[str, CatalogItem],
    now: datetime,
    outcome: Outcome | None,
) -> list[LaneRow]:
    """Every lane the model declares, the outcome's lane saying what became of the action."""
    by_lane = {view.lane: view for view in linked}
    wanted = "next" if outcome is None else outcome.focus
    focus: tuple[int | None, str | None] = (None, None)
    if wanted == "next":
        focus = (next((n for n in range(declared) if n not in by_lane), None), "code")
    elif outcome is not None and wanted == "lane":
        focus = (outcome.lane, "count" if outcome.lane in by_lane else "code")
    elif outcome is not None:
        focus = (outcome.lane, wanted)
    rows = []
    for n in range(declared):
        view = by_lane.get(n)
        item = None if view is None else items.get(view.sku)
        mine = outcome is not None and outcome.lane == n
        rows.append(
            LaneRow(
                lane=n,
                view=view,
                name=None if item is None else item.name,
                stock=None if view is None or view.stock is None else STOCK_WORDS[view.stock],
                unit=None if view is None else unit_words(view, item),
                last=None if view is None else _last_words(view, now),
                done=outcome.done if mine and outcome is not None else None,
                refused=outcome.refused if mine and outcome is not None else None,
                focus=focus[1] if focus[0] == n else None,
            )
        )
    return rows


def _model_name(model_id: int) -> str:
    try:
        return model(ModelId(model_id)).name
    except ValueError:
        return f"model {model_id}"


# ---- the list ----------------------------------------------------------------------------------


@router.get("/sensors")
async def sensors(request: Request, controller: ControllerDep, user: User) -> Response:
    conn = controller.conn
    ids = await sensor_ids(conn)
    found = await devices_by_id(conn, ids)
    linked: dict[str, list[int]] = {}
    for link in await lane_links(conn):
        linked.setdefault(link.device_id, []).append(link.lane)
    alerts = await unresolved_by_device(conn)
    rows = []
    for device_id in ids:
        if device_id not in found:
            continue
        lanes = _lanes_of(found[device_id])
        states = [
            None if counter is None or counter.state is None else counter.state.value
            for counter in (
                controller.shelves.lane(device_id, n) for n in linked.get(device_id, [])
            )
        ]
        rows.append(
            SensorRow(
                found[device_id],
                sensor_href(device_id),
                lanes,
                sum(n < lanes for n in linked.get(device_id, [])),
                states.count("low"),
                states.count("out"),
                alerts.get(device_id, 0),
            )
        )
    return render(request, "sensors.html", user, rows=rows)


# ---- a sensor ----------------------------------------------------------------------------------


# After an action done, where the focus goes (Outcome.focus): a link readies the next lane for a
# scan; an unlinked lane is ready for its new item; a count or a tare needs nothing more.
FOCUS_AFTER = {"link": "next", "unlink": "code", "count": None, "tare": None}
FIELD_WORDS = {
    "sku": "Product code",
    "unit_grams": "One unit's weight",
    "low_stock": "Low stock at",
    "capacity": "Capacity",
    "count": "The count",
}


def _done(done: str | None, lane: int | None) -> Outcome | None:
    if done not in DONE or lane is None:
        return None
    return Outcome(lane, done=DONE[done].format(lane=lane), focus=FOCUS_AFTER[done])


async def _sensor_page(
    request: Request,
    controller: Controller,
    user: ApiToken,
    device_id: str,
    *,
    outcome: Outcome | None = None,
    status_code: int = 200,
) -> Response:
    """The sensor's page; an unknown sensor, or a device that is none, is the API's refusal
    (404, 409) as an error page."""
    view = await sensor_view(controller, device_id)
    found = await device(controller.conn, device_id)
    if found is None:  # deleted between the two reads
        raise NotFound(f"no sensor {device_id!r} in the registry")
    items = await current_items(controller.conn, {lane.sku for lane in view.linked})
    return render(
        request,
        "sensor.html",
        user,
        status_code=status_code,
        device=found,
        href=sensor_href(device_id),
        model_name=_model_name(found.model),
        sensor=view,
        rows=lane_rows(view.lanes, view.linked, items, controller.clock(), outcome),
        alerts=(await unresolved_by_device(controller.conn)).get(device_id, 0),
    )


@router.get("/sensors/{device_id}")
async def sensor_page(
    *,
    request: Request,
    device_id: SensorId,
    controller: ControllerDep,
    user: User,
    done: str | None = None,
    lane: Annotated[int | None, Query(ge=0, le=63)] = None,
) -> Response:
    return await _sensor_page(request, controller, user, device_id, outcome=_done(done, lane))


def _refusal(text: str) -> str:
    """A refusal for the page. Not capitalised: most start with a device id or a SKU."""
    return f"Not done: {text.strip().rstrip('.')}."


def _invalid(exc: ValidationError) -> str:
    return "; ".join(
        f"{FIELD_WORDS.get(str(e['loc'][0]), 'the form') if e['loc'] else 'the form'}:"
        f" {e['msg'].lower()}"
        for e in exc.errors()
    )


async def _act(
    request: Request,
    controller: Controller,
    user: ApiToken,
    *,
    where: tuple[str, int],
    change: Callable[[], Awaitable[Any]],
    done: str,
) -> Response:
    """Do `change`, then back to the sensor's page, which says so in the lane's card; refused:
    the page again with the reason there, the lane's field focused (its code field after a
    refused link, for the next scan)."""
    device_id, lane = where
    focus = "code" if done == "link" else "lane"
    try:
        await change()
    except ValidationError as exc:
        outcome = Outcome(lane, refused=_refusal(_invalid(exc)), focus=focus)
        return await _sensor_page(
            request,
            controller,
            user,
            device_id,
            outcome=outcome,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    except OperationRefused as exc:
        code = status.HTTP_404_NOT_FOUND if isinstance(exc, NotFound) else status.HTTP_409_CONFLICT
        outcome = Outcome(lane, refused=_refusal(str(exc)), focus=focus)
        return await _sensor_page(
            request, controller, user, device_id, outcome=outcome, status_code=code
        )
    # A fragment scrolls to the lane, but a browser then ignores `autofocus` (HTML's "flush
    # autofocus candidates"): only where no field is to have the focus.
    fragment = "" if FOCUS_AFTER[done] else f"#lane-{lane}"
    query = urlencode({"done": done, "lane": lane})
    return RedirectResponse(
        f"{sensor_href(device_id)}?{query}{fragment}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/sensors/{device_id}/lanes/{lane}/link")
async def link(
    *,
    request: Request,
    device_id: SensorId,
    lane: Lane,
    controller: ControllerDep,
    user: StaffUser,
    item: Annotated[str, Form(min_length=1, max_length=64)],
    low_stock: Annotated[int, Form()] = 2,
    unit_grams: Annotated[float | None, Form()] = None,
    capacity: Annotated[int | None, Form()] = None,
) -> Response:
    async def change() -> None:
        wanted = LaneLinkBody(
            sku=item.strip(), unit_grams=unit_grams, low_stock=low_stock, capacity=capacity
        )
        await link_item(controller, device_id, lane, wanted, user.name)

    return await _act(
        request, controller, user, where=(device_id, lane), change=change, done="link"
    )


@router.post("/sensors/{device_id}/lanes/{lane}/unlink")
async def unlink(
    request: Request, device_id: SensorId, lane: Lane, controller: ControllerDep, user: StaffUser
) -> Response:
    async def change() -> None:
        await unlink_item(controller, device_id, lane, user.name)

    return await _act(
        request, controller, user, where=(device_id, lane), change=change, done="unlink"
    )


@router.post("/sensors/{device_id}/lanes/{lane}/count")
async def count(
    *,
    request: Request,
    device_id: SensorId,
    lane: Lane,
    controller: ControllerDep,
    user: StaffUser,
    counted: Annotated[int, Form()],
) -> Response:
    async def change() -> None:
        body = CountBody(count=counted)
        await count_lane(controller, device_id, lane, body.count, user.name)

    return await _act(
        request, controller, user, where=(device_id, lane), change=change, done="count"
    )


@router.post("/sensors/{device_id}/lanes/{lane}/tare")
async def tare(
    request: Request, device_id: SensorId, lane: Lane, controller: ControllerDep, user: StaffUser
) -> Response:
    async def change() -> None:
        await tare_lane(controller, device_id, lane, user.name)

    return await _act(
        request, controller, user, where=(device_id, lane), change=change, done="tare"
    )
