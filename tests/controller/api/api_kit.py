"""Helpers of the API tests: an `Api` (client, controller, one token per role), items, labels."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from controller.api import create_app
from controller.api.rate_limits import EdgeLimits
from controller.runtime import Controller
from controller.settings import Settings
from controller.state.database import open_database
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.tokens_repo import Role, create_token
from firmware_protocol.models import ModelId
from label_renderer.batch import BatchRenderer
from label_renderer.gtin import check_digit

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def gtin_of(first12: str) -> str:
    return first12 + str(check_digit(first12))


def item(sku: str = "TR-1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"sku": sku, "name": "Gofret", "currency": "TRY", "price": "12.50"}
    return body | fields


@dataclass
class Api:
    client: httpx.AsyncClient
    controller: Controller
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def add_label(
        self, device_id: str, *, adopt: bool = True, battery_mv: int = 3000
    ) -> None:
        facts = BirthFacts("gw-1", ModelId.EPD290_BWR, 1, "1.0.0", battery_mv, 1024, 2, 60)
        await record_birth(self.controller.conn, device_id, facts, T0, adopt=adopt)

    async def audit(self, target: str) -> list[dict[str, Any]]:
        answer = await self.client.get(
            "/api/v1/audit/log", params={"target": target}, headers=self.as_("viewer")
        )
        assert answer.status_code == 200
        entries: list[dict[str, Any]] = answer.json()
        return entries


def settings_for(tmp_path: Path, store: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store_id": store,
        "store_secret": "not-a-real-secret",
        "state_db": tmp_path / "s.db",
        "adopt": ("lbl-*",),
        "render_workers": 1,
        "review_url_pattern": "https://reviews.example/{store}/{sku}",
        "redirect_hosts": ("reviews.example",),
        "public_url": "https://shop.example",
    }
    return Settings(**(values | overrides))


@contextlib.asynccontextmanager
async def open_api(
    settings: Settings,
    *,
    limits: EdgeLimits | None = None,
    client: tuple[str, int] = ("127.0.0.1", 123),
    clock: Callable[[], datetime] = lambda: T0,
) -> AsyncIterator[Api]:
    """The app (lifespan entered) around a constructed, idle Controller, one token per role;
    requests come from the address `client`; the controller's time is `clock`'s (T0)."""
    async with open_database(settings.state_db) as conn:
        controller = Controller(settings, conn, BatchRenderer(1), clock=clock)
        app = create_app(settings, controller=controller, limits=limits)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=client)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                api = Api(http, controller)
                for role in Role:
                    _, secret = await create_token(conn, role.value, role, at=T0, created_by="test")
                    api.tokens[role.value] = secret
                yield api


SHELVES = {
    "lbl-00001": "Reyon 1 / Raf 1",
    "lbl-00002": "Reyon 1 / Raf 2",
    "lbl-00003": "reyon 1/raf  2",  # typed differently: the same shelf
    "lbl-00010": "Reyon 10 / Raf 1",
    "lbl-00015": "Reyon 15 / Raf 3",
    "lbl-00016": "Reyon 1 Raf 2",  # not aisle / shelf: its own place
}


async def seed_shelves(api: Api) -> None:
    """Labels of aisles 1, 10 and 15 linked to one item, at the locations of SHELVES."""
    staff = api.as_("staff")
    assert (await api.client.put("/api/v1/items/TR-1", json=item(), headers=staff)).is_success
    for device_id, location in SHELVES.items():
        await api.add_label(device_id)
        linked = await api.client.post(
            f"/api/v1/labels/{device_id}/link",
            json={"item": "TR-1", "location": location},
            headers=staff,
        )
        assert linked.status_code == 200, linked.text
    # Linking queued each label (the controller is idle here): start from an empty queue.
    await api.controller.conn.execute("DELETE FROM render_queue")
