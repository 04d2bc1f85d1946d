"""A whole store for end-to-end tests: the real Mosquitto, the simulator's labels, a controller,
and HQ publishing catalog changes, plus the checks that the shelf shows what it should."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomqtt

from broker_access.credentials import client_password, hq_user
from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext, label_content
from controller.local_broker import LocalBroker
from controller.runtime import Controller
from controller.service import running_controller
from controller.settings import Settings
from controller.state.catalog_repo import applied_prices
from controller.state.devices_repo import binding_of, device
from controller.state.labels_repo import label_state
from device_sim.behaviour import Behaviour
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store, label_id
from firmware_protocol.models import ModelId, model
from label_renderer.batch import RenderJob, render_job
from tests.support.running import running

MODELS = (ModelId.EPD213_BWR, ModelId.EPD290_BWR, ModelId.EPD154_BW, ModelId.EPD420_BWY)


def item(sku: str, price: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": sku,
        "name": f"Ürün {sku}",
        "brand": "Omnishelf",
        "currency": "TRY",
        "price": price,
        "gtin": None,
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def settings_for(broker: LocalBroker, store: str, db: Path) -> Settings:
    return broker.controller_settings(store, db)


def hq_client(broker: LocalBroker, store: str) -> aiomqtt.Client:
    """HQ of this store: the broker binds the client id to the username, so one connection
    both publishes the changes and reads the receipts."""
    broker.add_store(store)
    address = broker.address()  # over TLS when the broker listens on TLS only
    return aiomqtt.Client(
        address.host,
        address.port,
        identifier=hq_user(store),
        username=hq_user(store),
        password=client_password(broker.store_secret, hq_user(store)),
        tls_context=address.tls_context(),
    )


@dataclass
class Store:
    broker: LocalBroker
    store: str
    sim: Simulator
    db: Path
    hq: aiomqtt.Client
    controller: Controller | None = None
    statuses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [label.device_id for label in self.sim.labels()]

    @property
    def ctl(self) -> Controller:
        assert self.controller is not None
        return self.controller

    async def publish(self, topic: str, body: Any, *, raw: bytes | None = None) -> None:
        payload = raw if raw is not None else json.dumps(body).encode()
        await self.hq.publish(f"omnishelf/{self.store}/catalog/{topic}", payload, qos=1)

    async def publish_item(self, body: dict[str, Any]) -> None:
        await self.publish(f"item/{body['sku']}", body)

    async def wait_until(
        self, condition: Callable[[], Any], within_s: float = 20.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if await condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {within_s} s waiting for {what}")

    async def registered(self) -> None:
        async def all_known() -> bool:
            for d in self.labels:
                found = await device(self.ctl.conn, d)
                if found is None or not found.online:
                    return False
            return True

        await self.wait_until(all_known, what="every label's birth")

    async def unconverged(self, device_ids: Iterable[str]) -> list[str]:
        """Labels that do not show their desired image (or have none yet), or whose report of
        showing it the controller has not recorded yet."""
        behind = []
        for device_id in device_ids:
            state = await label_state(self.ctl.conn, device_id)
            shown = self.sim.label(device_id).displayed_hash
            if state is None or shown != state.desired_hash or not state.confirmed:
                behind.append(device_id)
        return behind

    async def converged(self, device_ids: Iterable[str] | None = None, within_s: float = 20.0):  # type: ignore[no-untyped-def]
        ids = list(device_ids if device_ids is not None else self.labels)

        async def done() -> bool:
            return not await self.unconverged(ids)

        await self.wait_until(done, within_s, what=f"{len(ids)} labels to converge")

    async def fresh_planes(self, device_id: str) -> bytes:
        return await fresh_planes(self.ctl.conn, self.store, device_id, self.ctl.clock())


async def fresh_planes(conn: Any, store: str, device_id: str, at: Any) -> bytes:
    """A fresh render of what the label should show at `at`, from the stored item."""
    binding = await binding_of(conn, device_id)
    label = await device(conn, device_id)
    assert binding is not None
    assert label is not None
    async with conn.execute("SELECT body FROM items WHERE sku = ?", (binding.sku,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    stored = CatalogItem.model_validate_json(row[0])
    context = StoreContext(store, "tr-TR", base_url="https://shop.example")
    content = label_content(stored, context, at, await applied_prices(conn, stored.sku))
    job = RenderJob(
        device_id, content, model(ModelId(label.model)).name, binding.template, binding.page
    )
    result = render_job(job)
    assert result.ok, result.error
    return result.planes


async def _statuses(store: Store) -> None:
    client = store.hq
    await client.subscribe(f"omnishelf/{store.store}/catalog-status/#", qos=1)
    async for message in client.messages:
        payload = message.payload
        assert isinstance(payload, bytes | bytearray)
        store.statuses.append((message.topic.value, json.loads(payload)))


@contextlib.asynccontextmanager
async def store_with_labels(
    broker: LocalBroker,
    store: str,
    tmp_path: Path,
    *,
    labels: int = 4,
    models: tuple[ModelId, ...] = MODELS,
    behaviour: Behaviour | None = None,
    access_points: int = 0,
    with_controller: bool = True,
) -> AsyncIterator[Store]:
    spec = StoreSpec(store, labels, access_points=access_points, label_models=models)
    gateways = build_store(spec, behaviour or Behaviour.instant())
    sim = Simulator(gateways, broker.address(), broker.store_secret)
    broker.add_clients(sim.gateway_ids)
    ready = asyncio.Event()
    async with hq_client(broker, store) as hq, running(sim.run(ready=ready)):
        await asyncio.wait_for(ready.wait(), 20)
        rig = Store(broker, store, sim, tmp_path / "state.db", hq)
        async with running(_statuses(rig)):
            await asyncio.sleep(0.1)  # the status subscription is in place
            if not with_controller:
                yield rig
                return
            settings = settings_for(broker, store, rig.db)
            async with running_controller(settings, workers=1) as controller:
                rig.controller = controller
                await rig.registered()
                yield rig


def price_of(labels_item: dict[str, Any]) -> Decimal:
    return Decimal(labels_item["price"])


__all__ = ["Store", "item", "label_id", "store_with_labels"]
