"""The API around a running controller (started by its lifespan) and simulated labels over the
real Mosquitto: commands that reach a label and commands that wait for a sleeping one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from controller.api import create_app
from controller.local_broker import LocalBroker
from controller.runtime import Controller
from controller.state.devices_repo import device
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.tokens_repo import Role, create_token
from device_sim.behaviour import Behaviour
from device_sim.mqtt import BrokerAddress
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store
from firmware_protocol.models import ModelId
from tests.controller.api.api_kit import T0, settings_for
from tests.support.running import running


@dataclass
class Store:
    client: httpx.AsyncClient
    controller: Controller
    sim: Simulator
    headers: dict[str, str]


async def _adopted(controller: Controller, device_id: str) -> None:
    for _ in range(200):
        found = await device(controller.conn, device_id)
        if found is not None and found.adopted and found.online:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{device_id} never came online")


@pytest.fixture
async def store(broker: LocalBroker, store_id: str, tmp_path: Path) -> AsyncIterator[Store]:
    broker.add_store(store_id)
    settings = settings_for(
        tmp_path, store_id, broker_url=broker.url, store_secret=broker.store_secret
    )
    app = create_app(settings)  # the lifespan starts the controller
    gateways = build_store(StoreSpec(store_id, labels=2), Behaviour.instant())
    sim = Simulator(gateways, BrokerAddress(broker.host, broker.port), broker.store_secret)
    broker.add_clients(sim.gateway_ids)
    async with app.router.lifespan_context(app):
        controller: Controller = app.state.controller
        _, secret = await create_token(controller.conn, "ayse", Role.STAFF, at=T0, created_by="t")
        ready = asyncio.Event()
        async with running(sim.run(ready=ready)):
            await asyncio.wait_for(ready.wait(), 10)
            await _adopted(controller, "lbl-00001")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Store(client, controller, sim, {"Authorization": f"Bearer {secret}"})


async def test_locate_flashes_the_label_and_answers_its_result(store: Store) -> None:
    """POST locate reaches the simulated label (its LED is on) and answers 200 with "ok"."""
    answer = await store.client.post(
        "/api/v1/labels/lbl-00001/locate", json={"seconds": 20}, headers=store.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok"
    assert store.sim.label("lbl-00001").led is not None
    entries = await store.client.get(
        "/api/v1/audit/log", params={"target": "label:lbl-00001"}, headers=store.headers
    )
    assert [(e["action"], e["actor"]) for e in entries.json()] == [("label.locate", "ayse")]


async def test_locate_of_a_silent_label_is_202_queued(store: Store) -> None:
    """A label that does not answer within the wait (asleep: no gateway serves it) gives 202."""
    facts = BirthFacts("gw-ghost", ModelId.EPD290_BWR, 1, "1.0.0", 3000, 1024, 1, 600)
    await record_birth(store.controller.conn, "lbl-09999", facts, T0, adopt=True)
    answer = await store.client.post("/api/v1/labels/lbl-09999/locate", headers=store.headers)
    assert answer.status_code == 202
    assert answer.json()["status"] == "queued"
    assert "asleep" in answer.json()["detail"]


async def test_fast_wake_reaches_the_label(store: Store) -> None:
    """POST fast-wake is answered by the simulated label: 200 with "ok"."""
    answer = await store.client.post(
        "/api/v1/labels/lbl-00001/fast-wake",
        json={"seconds": 60, "interval_ms": 500},
        headers=store.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok"


async def test_linked_label_ends_up_confirmed(store: Store) -> None:
    """PUT an item, link a label: it soon reports the desired image; the audit is empty."""
    item = {"sku": "TR-1", "name": "Gofret", "currency": "TRY", "price": "12.50"}
    put = await store.client.put("/api/v1/items/TR-1", json=item, headers=store.headers)
    assert put.status_code == 200
    link = await store.client.post(
        "/api/v1/labels/lbl-00001/link", json={"item": "TR-1"}, headers=store.headers
    )
    assert link.status_code == 200
    image = None
    for _ in range(300):
        shown = await store.client.get("/api/v1/labels/lbl-00001", headers=store.headers)
        image = shown.json()["image"]
        if image is not None and image["confirmed"]:
            break
        await asyncio.sleep(0.1)
    assert image is not None
    assert image["confirmed"], image
    assert image["reported_hash"] == image["desired_hash"]
    accuracy = await store.client.get("/api/v1/audit/price-accuracy", headers=store.headers)
    assert accuracy.json()["unconfirmed"] == 0
