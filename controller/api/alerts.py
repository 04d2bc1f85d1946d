"""Alerts for staff over REST: list them with the counts still to do, see one, acknowledge it (a
person is on it) and resolve it (done). docs/alerts.md.

Reading needs any role; acknowledging and resolving need the staff role, are done at the
controller's clock with the token's name as who, and are audited (`alert.acknowledged`,
`alert.resolved`, target `alert:{id}`) in the same transaction as the change. Both are
idempotent: acknowledging an acknowledged alert or resolving a resolved one answers 200 with the
alert as it is (its first acknowledger or resolver stays) and adds no audit entry, since nothing
changed. Acknowledging a resolved alert is 409; an unknown alert is 404; an unknown state or kind,
or a limit beyond 1..500, is 422.

The console's alert page (controller/console/alert_pages.py) acknowledges and resolves through
`acknowledge_alert` and `resolve_alert`, so both ways are audited alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import aiosqlite
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from controller.api.deps import ControllerDep, Staff, Viewer
from controller.operations import NotFound, OperationRefused
from controller.runtime import Controller
from controller.state.alerts_repo import (
    Alert,
    AlertConflict,
    AlertKind,
    AlertNotFound,
    AlertState,
    acknowledge,
    alert,
    list_alerts,
    resolve,
    unresolved_counts,
)
from controller.state.audit_repo import append_audit
from controller.state.database import transaction

router = APIRouter(tags=["alerts"])

MAX_ID = 2**63 - 1  # SQLite's largest integer: beyond, the id cannot exist
MAX_LIMIT = 500

AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="the alert's id")]


class AlertView(BaseModel):
    """An alert as `Alert.document()` gives it (the alert topic's shape), with how long people
    took: seconds from opening to acknowledging and to resolving, once known."""

    id: int
    kind: AlertKind
    subject: str  # what it is about: "shelf-00002/3" for a lane, a room, a device
    state: AlertState
    device_id: str | None
    lane: int | None  # 0-based, as the sensor's lane_grams
    sku: str | None
    detail: dict[str, Any]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalated_at: datetime | None
    escalations: int
    version: int
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None

    @classmethod
    def of(cls, found: Alert) -> AlertView:
        return cls.model_validate(
            found.document()
            | {
                "time_to_acknowledge_s": seconds_between(found.opened_at, found.acknowledged_at),
                "time_to_resolve_s": seconds_between(found.opened_at, found.resolved_at),
            }
        )


class StateCounts(BaseModel):
    open: int
    acknowledged: int


class AlertList(BaseModel):
    alerts: list[AlertView]  # newest first
    unresolved: dict[AlertKind, StateCounts]  # every kind, whatever the filters
    next_before_id: int | None  # pass as before_id for the next page; None: no more


def seconds_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)


async def counts_by_kind(controller: Controller) -> dict[AlertKind, StateCounts]:
    """Open and acknowledged alerts of every kind (zero included)."""
    counted = await unresolved_counts(controller.conn)
    return {
        kind: StateCounts(
            open=counted.get((kind, AlertState.OPEN), 0),
            acknowledged=counted.get((kind, AlertState.ACKNOWLEDGED), 0),
        )
        for kind in AlertKind
    }


async def acknowledge_alert(controller: Controller, alert_id: int, actor: str) -> Alert:
    """Acknowledge as `actor` now, audited if it changed anything; refusals as 404 and 409."""
    return await _change(controller, alert_id, actor, acknowledge, "alert.acknowledged")


async def resolve_alert(controller: Controller, alert_id: int, actor: str) -> Alert:
    """Resolve as `actor` now, audited if it changed anything; refusals as 404."""
    return await _change(controller, alert_id, actor, resolve, "alert.resolved")


async def _change(
    controller: Controller,
    alert_id: int,
    actor: str,
    change: Callable[[aiosqlite.Connection, int, str, datetime], Awaitable[Alert]],
    action: str,
) -> Alert:
    at = controller.clock()
    try:
        async with transaction(controller.conn):
            before = await alert(controller.conn, alert_id)
            after = await change(controller.conn, alert_id, actor, at)  # None before: raises
            if before is None or after.version != before.version:
                await append_audit(
                    controller.conn,
                    at=at,
                    actor=actor,
                    action=action,
                    target=f"alert:{alert_id}",
                    detail={"kind": after.kind.value, "subject": after.subject},
                )
    except AlertNotFound as exc:
        raise NotFound(f"no alert {alert_id}") from exc
    except AlertConflict as exc:
        raise OperationRefused(str(exc)) from exc
    controller.alerts_changed()  # the alert topic hears of it now, not at its next look
    return after


@router.get("/alerts", summary="Alerts, newest first, and the unresolved counts (viewer)")
async def alerts(
    controller: ControllerDep,
    _: Viewer,
    state: Annotated[
        list[AlertState] | None, Query(description="repeat for several; none: every state")
    ] = None,
    kind: Annotated[
        list[AlertKind] | None, Query(description="repeat for several; none: every kind")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next page: the last page's next_before_id")
    ] = None,
) -> AlertList:
    found = await list_alerts(
        controller.conn,
        states=state or (),
        kinds=kind or (),
        limit=limit,
        before_id=before_id,
    )
    return AlertList(
        alerts=[AlertView.of(one) for one in found],
        unresolved=await counts_by_kind(controller),
        next_before_id=found[-1].id if len(found) == limit else None,
    )


@router.get("/alerts/{alert_id}", summary="An alert (viewer)")
async def one_alert(alert_id: AlertId, controller: ControllerDep, _: Viewer) -> AlertView:
    found = await alert(controller.conn, alert_id)
    if found is None:
        raise NotFound(f"no alert {alert_id}")
    return AlertView.of(found)


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge an alert: someone is on it (staff)")
async def ack(alert_id: AlertId, controller: ControllerDep, token: Staff) -> AlertView:
    return AlertView.of(await acknowledge_alert(controller, alert_id, token.name))


@router.post("/alerts/{alert_id}/resolve", summary="Resolve an alert: done (staff)")
async def resolved(alert_id: AlertId, controller: ControllerDep, token: Staff) -> AlertView:
    return AlertView.of(await resolve_alert(controller, alert_id, token.name))
