"""Fitting rooms in the console (docs/fitting-rooms.md, "Kiosk page"): a page for a room's tablet
and a list of the rooms for staff.

/rooms/{id} is made for a tablet in the room, signed in once (a viewer token will do): large
and in the store's language, the garments inside now (the open visit's, state/rooms_repo.py),
each with its size and colour and its other sizes and colours with where to get them (the room
display's rules and words, catalog/variants.py), a "Call staff" button, a welcome when the room
is empty. Its content lives in /rooms/{id}/live, a fragment that console.js fetches again every
POLL_S seconds and swaps in when it changed (as the alerts page does): a garment brought in
shows within a poll, and a tablet holds no stream open. Its reads go to the rooms' reader
connection, the one the rooms' own answers read from, so polls never queue behind writes.

"Call staff" opens the room's help alert through FittingRooms, the path the room's button takes.
Any signed-in role may press it (calling for help changes no price and no label), with the CSRF
token. The unique index on unresolved alerts keeps it to one help alert per room: a press while
one is open does nothing (no write, no audit entry) and the page keeps saying staff are called
until the alert is resolved. A new alert is audited (`room.staff_called`, target `room:<id>`).

/rooms lists the rooms (devices of a fitting-room model) for staff: each one's open visit, its
unresolved help alert, and the store's room statistics since midnight (the controller host's
time zone, which is the store's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import aiosqlite
from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.catalog.variants import (
    Phrases,
    availability,
    family_order,
    phrases_for,
    variant_label,
)
from controller.console.alert_pages import duration_words
from controller.console.room_words import kiosk_words
from controller.console.session import AnyRoleUser, User
from controller.console.templating import render
from controller.runtime import Controller
from controller.shoppers.phrases import language_of, words_for
from controller.state.alerts_repo import Alert, AlertKind, AlertState, list_alerts
from controller.state.audit_repo import append_audit
from controller.state.catalog_repo import current_items
from controller.state.database import transaction
from controller.state.devices_repo import Device, device, devices_by_id
from controller.state.rooms_repo import (
    ROOM_MODELS,
    Garment,
    Variants,
    Visit,
    current_visit,
    current_visits,
    family_of,
    room_ids,
    room_stats,
)
from controller.state.stock_repo import shelf_summaries

router = APIRouter()

POLL_S = 2
HELP_READ = 1000  # unresolved help alerts: one per room at most (the unique index)
MOST_TRIED = 5
RoomId = Annotated[str, Path(min_length=1, max_length=64)]


@dataclass(frozen=True, slots=True)
class VariantRow:
    label: str  # "40 Lacivert"
    where: str  # "mağazada 2", "online", "tükendi"
    state: str  # in / online / out


@dataclass(frozen=True, slots=True)
class GarmentCard:
    code: str
    name: str  # the item's name, or what is wrong with the tag
    known: bool
    size: str | None
    colour: str | None
    others: tuple[VariantRow, ...]  # its colour's other sizes first, then the other colours


def garment_card(
    garment: Garment, found: Variants | None, counted: dict[str, int], words: Phrases
) -> GarmentCard:
    """What the kiosk shows of a garment: as the room's display answers its STOCK_QUERY
    (fitting_rooms.answer_lines), with every other variant rather than the display's few lines."""
    if found is None:
        problem = words.unknown_tag if garment.gtin is None else words.no_item
        return GarmentCard(garment.code, problem, False, None, None, ())
    item = found.item
    states = {words.online: "online", words.sold_out: "out"}
    others = []
    for variant in family_order(item, found.family):
        if variant.sku != item.sku:
            where = availability(variant, counted.get(variant.sku), words)
            others.append(VariantRow(variant_label(variant), where, states.get(where, "in")))
    family = item.family
    return GarmentCard(
        garment.code,
        item.name,
        True,
        family.size if family else None,
        family.colour if family else None,
        tuple(others),
    )


async def garment_cards(
    conn: aiosqlite.Connection, visit: Visit | None, words: Phrases
) -> tuple[GarmentCard, ...]:
    """The garments inside, first brought first, with their variants' store stock (the shelf's
    count where a smart shelf counts it, else the catalog's)."""
    if visit is None or not visit.inside:
        return ()
    items = await current_items(conn, {g.sku for g in visit.inside if g.sku is not None})
    families = {sku: await family_of(conn, item, suggestions=0) for sku, item in items.items()}
    skus = sorted({v.sku for found in families.values() for v in found.family})
    counted = {sku: s.count for sku, s in (await shelf_summaries(conn, skus)).items()}
    return tuple(
        garment_card(g, None if g.sku is None else families.get(g.sku), counted, words)
        for g in visit.inside
    )


async def unresolved_help(conn: aiosqlite.Connection) -> dict[str, Alert]:
    """The rooms' unresolved help alerts, by room."""
    found = await list_alerts(
        conn,
        states=(AlertState.OPEN, AlertState.ACKNOWLEDGED),
        kinds=(AlertKind.HELP,),
        limit=HELP_READ,
    )
    return {a.subject: a for a in found}


async def _room(conn: aiosqlite.Connection, device_id: str) -> Device:
    """The registered fitting room; 404 for any other device id."""
    found = await device(conn, device_id)
    if found is None or found.model not in ROOM_MODELS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no fitting room {device_id!r}")
    return found


def _room_href(device_id: str) -> str:
    return f"/rooms/{quote(device_id, safe='')}"


async def _kiosk_context(controller: Controller, device_id: str) -> dict[str, Any]:
    """What the live fragment shows: the garments inside, or the welcome; staff called."""
    reader = controller.rooms.reader
    phrases = phrases_for(controller.settings.locale)
    visit = await current_visit(reader, device_id)
    return {
        "phrases": phrases,
        "words": kiosk_words(language_of(controller.settings.locale)),
        "others_heading": words_for(controller.settings.locale).variants,
        "garments": await garment_cards(reader, visit, phrases),
        "called": device_id in await unresolved_help(reader),
    }


@router.get("/rooms/{device_id}")
async def kiosk(
    request: Request, device_id: RoomId, controller: ControllerDep, user: User
) -> Response:
    room = await _room(controller.rooms.reader, device_id)
    return render(
        request,
        "room.html",
        user,
        lang=language_of(controller.settings.locale),
        room=room,
        live_url=f"{_room_href(device_id)}/live",
        help_url=f"{_room_href(device_id)}/help",
        poll_s=POLL_S,
        **await _kiosk_context(controller, device_id),
    )


@router.get("/rooms/{device_id}/live")
async def kiosk_live(
    request: Request, device_id: RoomId, controller: ControllerDep, user: User
) -> Response:
    """The kiosk's content alone, for console.js to swap in."""
    await _room(controller.rooms.reader, device_id)
    return render(request, "_room_live.html", user, **await _kiosk_context(controller, device_id))


@router.post("/rooms/{device_id}/help")
async def call_staff(device_id: RoomId, controller: ControllerDep, user: AnyRoleUser) -> Response:
    await _room(controller.conn, device_id)
    if device_id not in await unresolved_help(controller.conn):
        if not await controller.rooms.call_staff(device_id, f"kiosk page, {user.name}"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no fitting room {device_id!r}")
        opened = (await unresolved_help(controller.conn)).get(device_id)
        if opened is not None:
            # After the alert's own commit, as the room's button opens it; the alert's detail
            # names the caller too.
            async with transaction(controller.conn):
                await append_audit(
                    controller.conn,
                    at=controller.clock(),
                    actor=user.name,
                    action="room.staff_called",
                    target=f"room:{device_id}",
                    detail={"alert": opened.id},
                )
    return RedirectResponse(_room_href(device_id), status_code=status.HTTP_303_SEE_OTHER)


# ---- the list for staff ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomRow:
    device: Device
    href: str
    inside: int | None  # garments inside; None: no visit open
    unknown: int  # of them with a tag naming no item
    since: str | None  # "for 12 min"
    help: str | None  # "Help requested 3 min ago", "Acknowledged by ayse"


def _help_words(found: Alert | None, now: datetime) -> str | None:
    if found is None:
        return None
    if found.acknowledged_by is not None:
        return f"Acknowledged by {found.acknowledged_by}"
    escalated = ", escalated" if found.escalations else ""
    return f"Help requested for {duration_words(found.opened_at, now)}{escalated}"


def _row(room: Device, visit: Visit | None, help_alert: Alert | None, now: datetime) -> RoomRow:
    return RoomRow(
        room,
        _room_href(room.device_id),
        None if visit is None else len(visit.inside),
        0 if visit is None else sum(g.sku is None for g in visit.inside),
        None if visit is None else f"for {duration_words(visit.opened_at, now)}",
        _help_words(help_alert, now),
    )


def midnight(now: datetime) -> datetime:
    """The start of `now`'s day where the controller runs, in UTC (as the visits are stored)."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@router.get("/rooms")
async def rooms(request: Request, controller: ControllerDep, user: User) -> Response:
    reader = controller.rooms.reader
    now = controller.clock()
    ids = await room_ids(reader)
    found = await devices_by_id(reader, ids)
    visits = await current_visits(reader, ids)
    helps = await unresolved_help(reader)
    stats = await room_stats(reader, midnight(now), top=MOST_TRIED)
    names = await current_items(
        reader,
        [sku for sku, _ in stats.most_tried] + [sku for sku, _, _ in stats.least_bought],
    )
    return render(
        request,
        "rooms.html",
        user,
        nav="rooms",
        rows=[_row(found[i], visits.get(i), helps.get(i), now) for i in ids if i in found],
        stats=stats,
        most_tried=[
            (sku, names[sku].name if sku in names else sku, n) for sku, n in stats.most_tried
        ],
        least_bought=[
            (sku, names[sku].name if sku in names else sku, n, sold)
            for sku, n, sold in stats.least_bought
        ],
    )
