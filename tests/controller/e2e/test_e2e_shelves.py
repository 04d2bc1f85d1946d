"""A shelf sensor over the real Mosquitto to a running controller (issue 15): a lane linked over
the API, its weights published as Telemetry, LowStock and OutOfStock stored and shown; HQ hears
the counts on the stock topic in sequence, the store's systems the alerts on the alert topic.

The controller runs as `omnishelf serve` runs it (`running_controller`); only its shelves' clock
is the test's, moved one second per report, so that 2 minutes of a lane take a few seconds."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import jsonschema_rs

from broker_access.credentials import hq_user, observer_user
from controller.local_broker import LocalBroker
from controller.runtime import Controller
from controller.state.alerts_repo import list_alerts
from controller.state.shelves_repo import shelf_events
from controller.state.stock_repo import unsent_upstream
from firmware_protocol.codec import encode
from firmware_protocol.messages import NO_HASH, Birth, Message, Telemetry
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion
from tests.controller.api.api_kit import T0, item
from tests.support.device_stack import device_stack
from tests.support.shelf_intake import Clock

ROOT = Path(__file__).resolve().parents[3]
SENSOR = "shelf-07001"
UNIT = 250


async def _until(condition, within_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def _client(broker: LocalBroker, username: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=username,
        username=username,
        password=broker.password(username),
    )


@dataclass
class Rig:
    controller: Controller
    api: httpx.AsyncClient
    headers: dict[str, str]
    device: aiomqtt.Client
    clock: Clock
    address: DeviceAddress
    seq: int = 0

    async def publish(self, msg: Message, qos: int = 0) -> None:
        await self.device.publish(self.address.topic(msg.OPCODE), encode(msg), qos=qos)

    async def hold(self, units: int, seconds: int = 40) -> None:
        """Lane 0 holds `units` for `seconds` reports, each waited for until fed."""
        for i in range(seconds):
            await self.weigh(units * UNIT + (1 if i % 2 else -1))

    async def weigh(self, grams: int) -> None:
        """One report a second later with lane 0 at `grams`, waited for until fed."""
        self.clock.now += timedelta(seconds=1)
        self.seq += 1
        await self.publish(Telemetry(self.seq, 3000, -60, 210, (grams, 999, 0, 0)))
        at = self.clock.now.timestamp()

        async def fed() -> bool:
            return self.controller.shelves.last_report(SENSOR) == at

        await _until(fed)


@asynccontextmanager
async def _rig(broker: LocalBroker, store_id: str, tmp_path: Path) -> AsyncIterator[Rig]:
    """A running controller, a born sensor whose lane 0 holds TR-B (low at 1)."""
    clock = Clock(T0)
    async with device_stack(
        broker, store_id, tmp_path, SENSOR, adopt=("lbl-*", "shelf-*")
    ) as stack:
        stack.controller.shelves.clock = clock
        api, headers = stack.api, stack.headers
        rig = Rig(stack.controller, api, headers, stack.device, clock, stack.address)
        birth = Birth(1, ModelId.SHELF_SENSOR_4, FirmwareVersion(1, 0, 0), 4096, 3000, 0, 1,
                      0, NO_HASH, 0)  # fmt: skip
        await rig.publish(birth, qos=1)

        async def born() -> bool:
            answer = await api.get(f"/api/v1/sensors/{SENSOR}/lanes", headers=headers)
            return answer.status_code == 200

        await _until(born)
        weighed = item("TR-B", net_quantity={"value": str(UNIT), "unit": "g"})
        await api.put("/api/v1/items/TR-B", json=weighed, headers=headers)
        linked = await api.post(
            f"/api/v1/sensors/{SENSOR}/lanes/0/link",
            json={"sku": "TR-B", "low_stock": 1},
            headers=headers,
        )
        assert linked.status_code == 200, linked.text
        yield rig


async def test_sales_over_the_broker_go_low_then_out(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """3 units, 2 sold, 1 sold, published at QoS 0 by a sensor of its own: the running controller
    stores InitialCount 3, LowStock 1, OutOfStock, and GET lanes shows the lane out."""
    async with _rig(broker, store_id, tmp_path) as rig:
        for units in (3, 1, 0):
            await rig.hold(units)

        async def stored() -> bool:
            kinds = [e.kind for e in await shelf_events(rig.controller.conn, SENSOR)]
            return "OutOfStock" in kinds

        await _until(stored)
        events = await shelf_events(rig.controller.conn, SENSOR)
        assert [(e.kind, e.count) for e in events] == [
            ("InitialCount", 3),
            ("StockCounted", 1),
            ("LowStock", 1),
            ("StockCounted", 0),
            ("OutOfStock", None),
        ]
        answer = await rig.api.get(f"/api/v1/sensors/{SENSOR}/lanes", headers=rig.headers)
        [lane] = answer.json()["linked"]
        assert (lane["count"], lane["stock"], lane["last_event"]["kind"]) == (
            0,
            "out",
            "OutOfStock",
        )


async def _messages(client: aiomqtt.Client, within_s: float) -> list[tuple[str, bytes, bool]]:
    """What arrives within `within_s` (or until 0.5 s pass with nothing)."""
    got: list[tuple[str, bytes, bool]] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            async with asyncio.timeout(0.5 if got else within_s):
                message = await anext(aiter(client.messages))
        except TimeoutError:
            break
        got.append((str(message.topic), bytes(message.payload), message.retain))  # type: ignore[arg-type]
    return got


async def test_hq_hears_the_counts_in_sequence_and_systems_the_alerts(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """HQ's account receives each count on omnishelf/{store}/stock in one sequence with no gap,
    and nothing a sensor forges there; the alert topic carries the lane's low and out alerts,
    retained while open (a late subscriber sees the open one), cleared once a restock resolves
    them."""
    stock = f"omnishelf/{store_id}/stock"
    alerts = f"omnishelf/{store_id}/alerts/#"
    async with (
        _rig(broker, store_id, tmp_path) as rig,
        _client(broker, hq_user(store_id)) as hq,
        _client(broker, observer_user(store_id)) as systems,
    ):
        await hq.subscribe(stock, qos=1)
        await systems.subscribe(alerts, qos=1)
        await rig.device.publish(stock, b'{"v":1,"changes":[{"seq":1}]}', qos=1)  # refused
        for units in (3, 1, 0):
            await rig.hold(units)
        await _until(lambda: _out_alert_published(rig), within_s=15)

        heard = await _messages(hq, within_s=10)
        changes: list[dict[str, Any]] = []
        schema = json.loads((ROOT / "docs" / "stock-upstream.schema.json").read_text())
        for topic, payload, _ in heard:
            body = json.loads(payload)
            jsonschema_rs.validate(schema, body)  # docs/catalog.md "Stock upstream"
            assert (topic, body["v"], body["store"]) == (stock, 1, store_id)
            changes += body["changes"]
        assert [c["seq"] for c in changes] == list(range(1, len(changes) + 1))
        assert [
            (c["change"]["cause"], c["shelf"]["count"], c["shelf"]["state"]) for c in changes
        ] == [
            ("initial", 3, "ok"),
            ("sale", 1, "low"),
            ("sale", 0, "out"),
        ]
        assert {c["sku"] for c in changes} == {"TR-B"}

        seen = [json.loads(p) for _, p, _ in await _messages(systems, within_s=5) if p]
        told = [(body["kind"], body["state"]) for body in seen]
        # The low alert may be sent open first, or only once resolved (one second per message).
        assert told in (
            [("low_stock", "open"), ("low_stock", "resolved"), ("out_of_stock", "open")],
            [("low_stock", "resolved"), ("out_of_stock", "open")],
        ), told
        assert seen[-1]["subject"] == f"{SENSOR}/0"
        assert seen[-1]["sku"] == "TR-B"
        assert await _retained(systems, alerts) == [("out_of_stock", "open")]

        await rig.hold(4)
        await _until(lambda: _alerts_published(rig, "resolved"), within_s=15)
        after = await _messages(systems, within_s=5)
        assert [(json.loads(p)["state"], r) for _, p, r in after if p] == [("resolved", False)]
        assert [(p, r) for _, p, r in after if not p] == [(b"", False)]  # the retained, cleared
        assert await _retained(systems, alerts) == []


async def _retained(client: aiomqtt.Client, topics: str) -> list[tuple[str, str]]:
    """(kind, state) of the retained alerts, as a system that subscribes now gets them."""
    await client.unsubscribe(topics)
    await client.subscribe(topics, qos=1)
    got = await _messages(client, within_s=2)
    return [(json.loads(p)["kind"], json.loads(p)["state"]) for _, p, r in got if r and p]


async def _alerts_published(rig: Rig, state: str) -> bool:
    row = await (
        await rig.controller.conn.execute(
            "SELECT count(*) FROM alerts WHERE state != ? OR published_version < version",
            (state,),
        )
    ).fetchone()
    return bool(row is not None and row[0] == 0)


async def _out_alert_published(rig: Rig) -> bool:
    row = await (
        await rig.controller.conn.execute(
            "SELECT count(*) FROM alerts"
            " WHERE kind = 'out_of_stock' AND published_version = version"
        )
    ).fetchone()
    return bool(row and row[0])


async def test_hands_resting_and_put_backs_change_no_stock_and_raise_no_alert(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """200 disturbances over the broker on a lane of 6: a hand resting on the shelf (3-8 s of
    500-1,500 g more, wobbling) or a unit picked up and put back (5-20 s lighter by one unit,
    then the same again), each followed by a few quiet seconds. The count stays 6: no stock
    change for HQ beyond the first count, no alert, no event but the first count."""
    rng = random.Random(15)
    async with _rig(broker, store_id, tmp_path) as rig:
        await rig.hold(6)
        for n in range(200):
            if n % 2:
                hand = rng.randint(500, 1_500)
                for _ in range(rng.randint(3, 8)):
                    await rig.weigh(6 * UNIT + hand + rng.randint(-120, 120))
            else:
                for _ in range(rng.randint(5, 20)):
                    await rig.weigh(5 * UNIT + rng.randint(-2, 2))
            for _ in range(rng.randint(2, 5)):
                await rig.weigh(6 * UNIT + rng.randint(-2, 2))
        await rig.hold(6, seconds=35)
        await rig.controller.shelves.poll()
        events = await shelf_events(rig.controller.conn, SENSOR, limit=1000)
        assert [(e.kind, e.count) for e in events] == [("InitialCount", 6)]
        assert await list_alerts(rig.controller.conn) == []
        rows = await unsent_upstream(rig.controller.conn, 100)
        sent = rig.controller.upstream.sent_stock
        assert len(rows) + sent == 1  # the first count, nothing after
        answer = await rig.api.get(f"/api/v1/sensors/{SENSOR}/lanes", headers=rig.headers)
        [lane] = answer.json()["linked"]
        assert (lane["count"], lane["stock"]) == (6, "in-stock")
