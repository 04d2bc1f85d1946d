"""Alerts for staff on the floor (docs/alerts.md): a list made for a phone, kept current, with
Acknowledge and Resolve buttons for the staff role.

/alerts shows the unresolved alerts (open and acknowledged), newest first, one card each: the
kind in words, the product's name from the catalog, the sensor and lane or the subject, how long
it has been open, who is on it. Filters: one per kind with its unresolved count, and "Resolved",
the last resolved ones. The list lives in /alerts/live, a fragment the page fetches again every
POLL_S seconds (console.js, `[data-poll]`) and swaps in when it changed: simpler than the wall's
event stream, and a list of at most a few hundred cards costs one small query a poll.

Acknowledging and resolving go through the API's own functions (controller/api/alerts.py), so
they are audited alike; a viewer sees no buttons and is refused (403) if it posts anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request, status
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from controller.api.alerts import MAX_ID, acknowledge_alert, counts_by_kind, resolve_alert
from controller.api.deps import ControllerDep
from controller.console.session import StaffUser, User
from controller.console.templating import render
from controller.operations import NotFound, OperationRefused
from controller.runtime import Controller
from controller.state.alerts_repo import Alert, AlertKind, AlertState, list_alerts
from controller.state.catalog_repo import current_items
from controller.state.tokens_repo import ApiToken

router = APIRouter()

KIND_WORDS = {
    AlertKind.LOW_STOCK: "Low stock",
    AlertKind.OUT_OF_STOCK: "Out of stock",
    AlertKind.MISPLACED: "Misplaced product",
    AlertKind.UNCERTAIN: "Recount needed",
    AlertKind.SENSOR_OFFLINE: "Sensor offline",
    AlertKind.HELP: "Help requested",
}
STATE_WORDS = {
    AlertState.OPEN: "Open",
    AlertState.ACKNOWLEDGED: "Acknowledged",
    AlertState.RESOLVED: "Resolved",
}
UNRESOLVED_SHOWN = 200  # more than a floor can act on; the counts still say how many there are
RESOLVED_SHOWN = 50
POLL_S = 4

Show = Literal["unresolved", "resolved"]
AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]


@dataclass(frozen=True, slots=True)
class AlertCard:
    alert: Alert
    kind: str  # in words
    state: str
    product: str | None  # the item's name, if the catalog has it
    where: str
    says: str | None  # what the device says: a room's help text, a recount's reason
    age: str  # "for 12 min"
    who: str | None  # "Acknowledged by ayse 3 min ago"


@dataclass(frozen=True, slots=True)
class FilterLink:
    text: str
    count: int | None
    href: str
    current: bool


def duration_words(start: datetime, end: datetime) -> str:
    """'less than a minute', '12 min', '3 h 5 min', '2 days'."""
    minutes = max(0, int((end - start).total_seconds() // 60))
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days = hours // 24
    return f"{days} day" if days == 1 else f"{days} days"


def _where(found: Alert) -> str:
    if found.device_id is not None and found.lane is not None:
        return f"Sensor {found.device_id} · lane {found.lane}"
    if found.kind is AlertKind.SENSOR_OFFLINE:
        return f"Sensor {found.device_id or found.subject}"
    if found.kind is AlertKind.HELP:
        return f"Fitting room {found.device_id or found.subject}"
    if found.device_id is not None:
        return f"Device {found.device_id}"
    return found.subject


def _says(found: Alert) -> str | None:
    """The text the alert carries for staff: what a room asked, why a recount is needed."""
    for key in ("asked", "reason"):
        text = found.detail.get(key)
        if isinstance(text, str) and text:
            return text[:200]
    return None


def _who(found: Alert, now: datetime) -> str | None:
    if found.resolved_at is not None:
        by = f" by {found.resolved_by}" if found.resolved_by else ""
        return (
            f"Resolved{by} after {duration_words(found.opened_at, found.resolved_at)},"
            f" {duration_words(found.resolved_at, now)} ago"
        )
    if found.acknowledged_at is not None:
        return (
            f"Acknowledged by {found.acknowledged_by},"
            f" {duration_words(found.acknowledged_at, now)} ago"
        )
    return None


def _card(found: Alert, names: dict[str, str], now: datetime) -> AlertCard:
    end = found.resolved_at or now
    return AlertCard(
        alert=found,
        kind=KIND_WORDS.get(found.kind, found.kind.value),
        state=STATE_WORDS[found.state],
        product=None if found.sku is None else names.get(found.sku),
        where=_where(found),
        says=_says(found),
        age=f"for {duration_words(found.opened_at, end)}",
        who=_who(found, now),
    )


def _href(kind: AlertKind | None, show: Show, **extra: str | int) -> str:
    query: dict[str, str | int] = {}
    if kind is not None:
        query["kind"] = kind.value
    if show != "unresolved":
        query["show"] = show
    query |= extra
    return "/alerts" + (f"?{urlencode(query)}" if query else "")


async def _list_context(
    controller: Controller, kind: AlertKind | None, show: Show
) -> dict[str, Any]:
    """What the list fragment shows: the filters with their counts and the cards."""
    counted = await counts_by_kind(controller)
    unresolved = {k: c.open + c.acknowledged for k, c in counted.items()}
    states: tuple[AlertState, ...] = (AlertState.RESOLVED,)
    limit = RESOLVED_SHOWN
    if show == "unresolved":
        states, limit = (AlertState.OPEN, AlertState.ACKNOWLEDGED), UNRESOLVED_SHOWN
    found = await list_alerts(
        controller.conn, states=states, kinds=() if kind is None else (kind,), limit=limit
    )
    items = await current_items(controller.conn, {a.sku for a in found if a.sku is not None})
    names = {sku: item.name for sku, item in items.items()}
    now = controller.clock()
    kinds = [FilterLink("All", sum(unresolved.values()), _href(None, show), kind is None)]
    kinds += [
        FilterLink(words, unresolved[key], _href(key, show), kind is key)
        for key, words in KIND_WORDS.items()
    ]
    shows = [
        FilterLink("To do", None, _href(kind, "unresolved"), show == "unresolved"),
        FilterLink("Resolved", None, _href(kind, "resolved"), show == "resolved"),
    ]
    title = KIND_WORDS[kind] if kind is not None else "All alerts"
    shown_of = sum(unresolved.values()) if kind is None else unresolved[kind]
    return {
        "kinds": kinds,
        "shows": shows,
        "show": show,
        "kind": kind,
        "title": f"{title}, resolved" if show == "resolved" else f"{title} to do",
        "cards": [_card(a, names, now) for a in found],
        "more": show == "unresolved" and shown_of > len(found),
        "total": shown_of,
    }


async def _page(
    request: Request,
    controller: Controller,
    user: ApiToken,
    kind: AlertKind | None,
    show: Show,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    query = urlencode({k: v for k, v in (("kind", kind), ("show", show)) if v is not None})
    return render(
        request,
        "alerts.html",
        user,
        status_code=status_code,
        live_url=f"/alerts/live?{query}",
        poll_s=POLL_S,
        done=done,
        error=error,
        **await _list_context(controller, kind, show),
    )


@router.get("/alerts")
async def alerts(
    *,
    request: Request,
    controller: ControllerDep,
    user: User,
    kind: AlertKind | None = None,
    show: Show = "unresolved",
    acknowledged: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    resolved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    done = None
    if acknowledged is not None:
        done = f"Alert {acknowledged} acknowledged."
    elif resolved is not None:
        done = f"Alert {resolved} resolved."
    return await _page(request, controller, user, kind, show, done=done)


@router.get("/alerts/live")
async def alerts_live(
    request: Request,
    controller: ControllerDep,
    user: User,
    kind: AlertKind | None = None,
    show: Show = "unresolved",
) -> Response:
    """The list alone, for the page's script to swap in."""
    return render(request, "_alert_list.html", user, **await _list_context(controller, kind, show))


async def _act(
    request: Request,
    controller: Controller,
    user: ApiToken,
    alert_id: int,
    *,
    back: tuple[AlertKind | None, Show],
    done: Literal["acknowledged", "resolved"],
) -> Response:
    kind, show = back
    change = acknowledge_alert if done == "acknowledged" else resolve_alert
    try:
        await change(controller, alert_id, user.name)
    except OperationRefused as exc:  # gone, or resolved meanwhile (a restock): say so, list again
        code = status.HTTP_404_NOT_FOUND if isinstance(exc, NotFound) else status.HTTP_409_CONFLICT
        why = str(exc)
        error = f"{why[:1].upper()}{why[1:]}."
        return await _page(request, controller, user, kind, show, error=error, status_code=code)
    return RedirectResponse(
        _href(kind, show, **{done: alert_id}), status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/alerts/{alert_id}/ack")
async def acknowledge(
    *,
    request: Request,
    alert_id: AlertId,
    controller: ControllerDep,
    user: StaffUser,
    kind: Annotated[AlertKind | None, Form()] = None,
    show: Annotated[Show, Form()] = "unresolved",
) -> Response:
    return await _act(request, controller, user, alert_id, back=(kind, show), done="acknowledged")


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    *,
    request: Request,
    alert_id: AlertId,
    controller: ControllerDep,
    user: StaffUser,
    kind: Annotated[AlertKind | None, Form()] = None,
    show: Annotated[Show, Form()] = "unresolved",
) -> Response:
    return await _act(request, controller, user, alert_id, back=(kind, show), done="resolved")
