"""A shelf sensor over the real Mosquitto to a running controller (issue 15): a lane linked over
the API, its weights published as Telemetry, LowStock and OutOfStock stored and shown.

The controller runs as `omnishelf serve` runs it (`running_controller`); only its shelves' clock
is the test's, moved one second per report, so that 2 minutes of a lane take a few seconds."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import aiomqtt
import httpx

from broker_access.credentials import client_password
from controller.api import create_app
from controller.local_broker import LocalBroker
from controller.service import running_controller
from controller.state.shelves_repo import shelf_events
from controller.state.tokens_repo import Role, create_token
from firmware_protocol.codec import encode
from firmware_protocol.messages import NO_HASH, Birth, Message, Telemetry
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion
from tests.controller.api.api_kit import T0, item
from tests.support.shelf_intake import Clock

SENSOR = "shelf-07001"
UNIT = 250


async def _until(condition, within_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_sales_over_the_broker_go_low_then_out(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """3 units, 2 sold, 1 sold, published at QoS 0 by a sensor of its own: the running controller
    stores InitialCount 3, LowStock 1, OutOfStock, and GET lanes shows the lane out."""
    settings = broker.controller_settings(
        store_id, tmp_path / "state.db", adopt=("lbl-*", "shelf-*")
    )
    broker.add_clients([SENSOR])
    clock = Clock(T0)
    address = DeviceAddress(store_id, SENSOR, SENSOR)
    async with (
        running_controller(settings, workers=1) as controller,
        aiomqtt.Client(
            broker.host,
            broker.port,
            identifier=SENSOR,
            username=SENSOR,
            password=client_password(broker.store_secret, SENSOR),
        ) as device,
    ):
        controller.shelves.clock = clock
        app = create_app(settings, controller=controller)
        _, secret = await create_token(controller.conn, "staff", Role.STAFF, at=T0, created_by="t")
        headers = {"Authorization": f"Bearer {secret}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:

            async def publish(msg: Message, qos: int = 0) -> None:
                await device.publish(address.topic(msg.OPCODE), encode(msg), qos=qos)

            birth = Birth(1, ModelId.SHELF_SENSOR_4, FirmwareVersion(1, 0, 0), 4096, 3000, 0, 1,
                          0, NO_HASH, 0)  # fmt: skip
            await publish(birth, qos=1)

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

            seq = 0
            for units in (3, 1, 0):
                for i in range(40):
                    clock.now += timedelta(seconds=1)
                    seq += 1
                    grams = units * UNIT + (1 if i % 2 else -1)
                    await publish(Telemetry(seq, 3000, -60, 210, (grams, 999, 0, 0)))
                    at = clock.now.timestamp()

                    async def fed(at: float = at) -> bool:
                        return controller.shelves.last_report(SENSOR) == at

                    await _until(fed)

            async def stored() -> bool:
                kinds = [e.kind for e in await shelf_events(controller.conn, SENSOR)]
                return "OutOfStock" in kinds

            await _until(stored)
            events = await shelf_events(controller.conn, SENSOR)
            assert [(e.kind, e.count) for e in events] == [
                ("InitialCount", 3),
                ("StockCounted", 1),
                ("LowStock", 1),
                ("StockCounted", 0),
                ("OutOfStock", None),
            ]
            lanes = (await api.get(f"/api/v1/sensors/{SENSOR}/lanes", headers=headers)).json()
            [lane] = lanes["linked"]
            assert (lane["count"], lane["stock"], lane["last_event"]["kind"]) == (
                0,
                "out",
                "OutOfStock",
            )
