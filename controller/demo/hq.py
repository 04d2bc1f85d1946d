"""The demo's central catalog (HQ): every few seconds it changes something, as a retailer does.

A change is one of: a price change, a promotion starting now, a promotion ending now, a sale or
a delivery that moves the stock across the low-stock threshold, and now and then a small batch
of price changes. Each changed item gets the next version (docs/catalog.md: versions order the
changes of one SKU), and goes out as HQ's systems send it: over MQTT, as the `hq` user, at QoS 1,
on `omnishelf/{store}/catalog/item/{sku}` or `.../catalog/batch`.

Choosing a change (`next_changes`) is pure and seeded, so the tests check the changes without a
broker; `run` is the only part that talks MQTT.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiomqtt

from broker_access.credentials import client_password, hq_user
from controller.catalog.items import CatalogItem
from controller.demo.catalog import ISTANBUL, reduced, shelf_price

log = logging.getLogger(__name__)

BATCH_EVERY = 10  # every 10th tick is a small batch (a category repriced)
BATCH_SIZE = 6
RECENT = 50


@dataclass(frozen=True, slots=True)
class HqChange:
    at: datetime
    kind: str  # "price", "promotion-start", "promotion-end", "stock"
    item: CatalogItem  # the new version
    summary: str

    @property
    def sku(self) -> str:
        return self.item.sku


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",") + " ₺"


def _body(item: CatalogItem) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=True)


class CatalogChanges:
    """HQ's copy of the catalog and the seeded choice of what changes next."""

    def __init__(self, items: Sequence[CatalogItem], *, seed: int = 1) -> None:
        self.items = {item.sku: item for item in items}
        self._skus = sorted(self.items)
        self._rng = random.Random(f"hq:{seed}")  # noqa: S311 - demo data
        self.ticks = 0

    def _update(self, item: CatalogItem, **fields: Any) -> CatalogItem:
        body = _body(item)
        body.update(fields)
        body["version"] = (item.version or 0) + 1
        changed = CatalogItem.model_validate({k: v for k, v in body.items() if v is not None})
        self.items[changed.sku] = changed
        return changed

    def _pick(self, wanted: Callable[[CatalogItem], bool]) -> CatalogItem | None:
        for _ in range(50):
            item = self.items[self._rng.choice(self._skus)]
            if wanted(item):
                return item
        return None

    def price_change(self, now: datetime) -> HqChange | None:
        item = self._pick(lambda i: i.promotion_at(now) is None)
        if item is None:
            return None
        factor = self._rng.choice((0.9, 0.94, 0.97, 1.04, 1.06, 1.1))
        price = shelf_price(float(item.price) * factor, self._rng)
        if price == item.price:
            price = item.price + Decimal(1)
        changed = self._update(item, price=str(price), promotion=None)
        summary = f"{item.name}: {_money(item.price)} → {_money(price)}"
        return HqChange(now, "price", changed, summary)

    def promotion_start(self, now: datetime) -> HqChange | None:
        item = self._pick(lambda i: i.promotion is None and i.price >= Decimal(5))
        if item is None:
            return None
        starts = now.astimezone(ISTANBUL).replace(microsecond=0)
        promo_price = reduced(item.price, self._rng.choice((0.1, 0.15, 0.2, 0.25, 0.3)))
        promotion = {
            "id": f"DEMO-{starts:%m%d%H%M%S}",
            "kind": "promotion",
            "price": str(promo_price),
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(days=7)).isoformat(),
        }
        changed = self._update(item, promotion=promotion)
        summary = f"{item.name}: kampanya {_money(promo_price)} (was {_money(item.price)})"
        return HqChange(now, "promotion-start", changed, summary)

    def promotion_end(self, now: datetime) -> HqChange | None:
        item = self._pick(lambda i: i.promotion_at(now) is not None)
        if item is None:
            return None
        changed = self._update(item, promotion=None)
        return HqChange(now, "promotion-end", changed, f"{item.name}: kampanya bitti")

    def stock_change(self, now: datetime) -> HqChange | None:
        item = self._pick(lambda i: i.stock is not None)
        if item is None or item.stock is None:
            return None
        stock = item.stock.model_dump(mode="json")
        before = item.stock.quantity or 0
        if before > item.stock.low_threshold:
            after = self._rng.randint(0, item.stock.low_threshold)  # a rush: low stock
            what = "az kaldı" if after else "tükendi"
        else:
            after = self._rng.randint(24, 96)  # the delivery came
            what = "yeni sevkiyat"
        stock["quantity"] = after
        changed = self._update(item, stock=stock)
        return HqChange(now, "stock", changed, f"{item.name}: stok {before} → {after} ({what})")

    def next_changes(self, now: datetime) -> list[HqChange]:
        """This tick's changes: usually one, every BATCH_EVERY-th tick a batch of prices."""
        self.ticks += 1
        if self.ticks % BATCH_EVERY == 0:
            batch = [self.price_change(now) for _ in range(BATCH_SIZE)]
            return [c for c in batch if c is not None]
        makers = (self.price_change, self.promotion_start, self.promotion_end, self.stock_change)
        maker = self._rng.choices(makers, weights=(4, 2, 2, 3))[0]
        change = maker(now)
        return [change] if change is not None else []


class DemoHq:
    """Publishes `CatalogChanges` every `interval_s` over MQTT as the `hq` user."""

    def __init__(
        self,
        store: str,
        items: Sequence[CatalogItem],
        *,
        seed: int = 1,
        interval_s: float = 3.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.changes = CatalogChanges(items, seed=seed)
        self.interval_s = interval_s
        self.clock = clock
        self.recent: deque[HqChange] = deque(maxlen=RECENT)
        self.published = 0
        self.receipts: dict[str, int] = {"accepted": 0, "duplicate": 0, "stale": 0, "rejected": 0}

    def messages(self, changes: list[HqChange], batch_no: int) -> list[tuple[str, bytes]]:
        prefix = f"omnishelf/{self.store}/catalog"
        if len(changes) == 1:
            item = changes[0].item
            return [(f"{prefix}/item/{item.sku}", json.dumps(_body(item)).encode())]
        body = {
            "batch_id": f"demo-{batch_no}",
            "changes": [{"op": "upsert", "item": _body(c.item)} for c in changes],
        }
        return [(f"{prefix}/batch", json.dumps(body).encode())]

    async def run(self, host: str, port: int, store_secret: str) -> None:
        """Publish changes until cancelled; reconnects (capped backoff) if the broker drops."""
        backoff = 0.5
        while True:
            try:
                async with aiomqtt.Client(
                    host,
                    port,
                    identifier=hq_user(self.store),
                    username=hq_user(self.store),
                    password=client_password(store_secret, hq_user(self.store)),
                    protocol=aiomqtt.ProtocolVersion.V311,
                ) as client:
                    backoff = 0.5
                    await client.subscribe(f"omnishelf/{self.store}/catalog-status/receipt", qos=1)
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(self._receipts(client), name="hq-receipts")
                        tasks.create_task(self._publish_loop(client), name="hq-publish")
            except* aiomqtt.MqttError as lost:  # from the TaskGroup of receipts and publishing
                log.warning(
                    "demo HQ lost the broker (%s); retrying in %.1f s", lost.exceptions[0], backoff
                )
            await asyncio.sleep(backoff)  # a clean exit of the block never happens: it loops
            backoff = min(backoff * 2, 10.0)

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            changes = self.changes.next_changes(self.clock())
            if not changes:
                continue
            for topic, payload in self.messages(changes, self.changes.ticks):
                await client.publish(topic, payload, qos=1)
            self.published += len(changes)
            self.recent.extend(changes)

    async def _receipts(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                receipt = json.loads(bytes(message.payload))
            except (TypeError, ValueError):
                continue
            for key in self.receipts:
                value = receipt.get(key)
                if isinstance(value, int):
                    self.receipts[key] += value
