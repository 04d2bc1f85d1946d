"""Fitting rooms over REST: what the rooms saw over a period, for analytics (docs/fitting-rooms.md
"Visits"). Reading needs any role. The rooms' questions and help go over MQTT
(controller/fitting_rooms.py); their alerts are in /alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from controller.api.deps import ControllerDep, Viewer
from controller.state.rooms_repo import room_stats

router = APIRouter(tags=["fitting rooms"])


class TriedView(BaseModel):
    sku: str
    tried: int


class LeftView(BaseModel):
    sku: str
    tried: int
    sold: int = Field(description="units the store stock HQ reports went down by in the period")


class RoomStatsView(BaseModel):
    days: int
    visits: int = Field(description="visits that began in the period")
    visits_closed: int = Field(description="of those, ended (the last garment left)")
    garments_tried: int
    garments_per_visit: float | None
    help_requests: int
    unknown_tags: int = Field(description="garments whose tag named no catalog item")
    most_tried: list[TriedView] = Field(description="the items tried most, most first")
    least_bought: list[LeftView] = Field(
        description="items tried at least 3 times, the fewest units sold per try first"
    )


@router.get("/rooms/stats", summary="What the fitting rooms saw in the last days (viewer)")
async def stats(
    controller: ControllerDep,
    _: Viewer,
    days: Annotated[int, Query(ge=1, le=366)] = 7,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> RoomStatsView:
    since = controller.clock() - timedelta(days=days)
    found = await room_stats(controller.conn, since, top)
    return RoomStatsView(
        days=days,
        visits=found.sessions,
        visits_closed=found.closed,
        garments_tried=found.items_tried,
        garments_per_visit=round(found.items_tried / found.sessions, 2) if found.sessions else None,
        help_requests=found.help_requests,
        unknown_tags=found.unknown_tags,
        most_tried=[TriedView(sku=sku, tried=n) for sku, n in found.most_tried],
        least_bought=[LeftView(sku=s, tried=n, sold=sold) for s, n, sold in found.least_bought],
    )
