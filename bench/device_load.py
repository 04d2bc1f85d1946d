"""The store's other devices for the benchmarks: smart shelves and fitting rooms (issue 15).

- `prepare_devices` registers them in the controller's fresh database, as an installation
  would: each shelf sensor (8 lanes) adopted with its lanes linked to the store's items, each
  fitting room adopted, and a clothing catalog (styles in sizes and colours, with GTINs) for
  the rooms to ask about;
- `python -m bench.device_load` is the load, in its own process like the simulator (so that
  the benchmark's busy event loop delays none of its messages): every sensor reports its 8 lanes
  once a second (stable weights with +/-1 g of noise and now and then a sale), every room asks
  about a garment's tag (STOCK_QUERY) every `--room-interval` seconds and times the answer, and
  `--probes` probe sensors empty and fill their lanes in turn, keeping each report's publish
  time. It prints {"ready": true} once all are connected and born, runs until SIGTERM, then
  writes the answers' (time, ms) and the probes' publish times to `--out` as JSON.

Devices connect directly (mains-powered Wi-Fi), each with its own credentials, as in a store.

    python -m bench.device_load --broker mqtt://127.0.0.1:PORT --store S --sensors 500 \
        --rooms 50 --out rooms.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import aiomqtt
import aiosqlite

from broker_access.address import BrokerAddress
from broker_access.credentials import client_password
from controller.catalog.items import CatalogItem
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.shelves_repo import LaneLink, link_lane
from device_sim.mqtt import send_at_once
from firmware_protocol.codec import decode, encode
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Message,
    Request,
    RequestKind,
    Response,
    Telemetry,
)
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion
from gs1.epc import check_digit, encode_sgtin96

LANES = 8
UNIT_G = 250  # every linked lane's unit weight
LANE_UNITS = 12  # what a lane holds at the start
LOW_STOCK = 2
COMPANY_PREFIX = "869765"  # a 6-digit GS1 company prefix (Türkiye's 869) for the clothing
SIZES = ("36", "38", "40", "42", "44")
COLOURS = ("Lacivert", "Siyah", "Bej")
STYLES = 20  # 20 styles x 3 colours x 5 sizes = 300 garments
SALE_PER_LANE_PER_S = 1 / 600  # a sale every ten minutes per lane: ~7 a second in 500 sensors


def sensor_id(n: int) -> str:
    return f"shelf-{n:04d}"


def room_id(n: int) -> str:
    return f"fit-{n:02d}"


def probe_id(n: int) -> str:
    return f"shelf-probe-{n:02d}"


def _gtin(n: int) -> str:
    body = f"{COMPANY_PREFIX}{n:06d}"
    return body + str(check_digit(body))


def clothing_catalog(currency: str = "TRY") -> list[CatalogItem]:
    """Garments in families: each style in every colour and size, a few sizes sold out in the
    store but online."""
    items = []
    n = 0
    for style in range(1, STYLES + 1):
        for colour in COLOURS:
            for size in SIZES:
                n += 1
                items.append(
                    CatalogItem.model_validate(
                        {
                            "sku": f"CL-{style:02d}-{colour[:2].upper()}-{size}",
                            "name": f"Ceket {style}",
                            "currency": currency,
                            "price": str(Decimal(999) + style * 50),
                            "gtin": _gtin(n),
                            "stock": {"quantity": n % 4, "online_available": n % 3 == 0},
                            "family": {
                                "style": f"CL-{style:02d}",
                                "size": size,
                                "colour": colour,
                                "collection": f"Kış {style % 4}",
                            },
                        }
                    )
                )
    return items


def clothing_tags(items: list[CatalogItem]) -> list[str]:
    return [
        encode_sgtin96(item.gtin, len(COMPANY_PREFIX), serial)
        for item in items
        if item.gtin is not None
        for serial in (1, 2)
    ]


async def prepare_devices(
    conn: aiosqlite.Connection,
    *,
    sensors: int,
    rooms: int,
    probes: int,
    skus: list[str],
    at: datetime,
) -> tuple[list[str], set[str]]:
    """Register and adopt the devices, link every sensor lane to an item; their ids, and the
    items on a sensor's lane (whose labels then show the shelf's stock too)."""
    ids: list[str] = []
    shelved: set[str] = set()
    n = 0
    for device_id in [sensor_id(i) for i in range(1, sensors + 1)] + [
        probe_id(i) for i in range(1, probes + 1)
    ]:
        facts = BirthFacts(device_id, int(ModelId.SHELF_SENSOR_8), 0, "1.0.0", 0, 0, 1, 0)
        await record_birth(conn, device_id, facts, at, adopt=True)
        for lane in range(LANES):
            link = LaneLink(
                device_id, lane, skus[n % len(skus)], UNIT_G, LOW_STOCK, None, at, "install"
            )
            await link_lane(conn, link)
            shelved.add(link.sku)
            n += 1
        ids.append(device_id)
    for device_id in (room_id(i) for i in range(1, rooms + 1)):
        facts = BirthFacts(device_id, int(ModelId.FITTING_ROOM_DISPLAY), 0, "1.0.0", 0, 0, 1, 0)
        await record_birth(conn, device_id, facts, at, adopt=True)
        ids.append(device_id)
    return ids, shelved


# ---- the background load -----------------------------------------------------------------------


@dataclass
class Device:
    device_id: str
    client: aiomqtt.Client
    address: DeviceAddress

    async def send(self, msg: Message, qos: int = 0) -> None:
        await self.client.publish(self.address.topic(msg.OPCODE), encode(msg), qos=qos)


def _birth(model: ModelId) -> Birth:
    return Birth(1, model, FirmwareVersion(1, 0, 0), 0, 0, 0, 1, 0, NO_HASH, 0)


async def _sensor(
    device: Device, rng: random.Random, started: asyncio.Event, counts: Counts
) -> None:
    await device.send(_birth(ModelId.SHELF_SENSOR_8), qos=1)
    await started.wait()
    units = [LANE_UNITS] * LANES
    seq = 0
    await asyncio.sleep(rng.random())  # the sensors' reports spread over the second
    while True:
        for lane in range(LANES):
            if units[lane] > 0 and rng.random() < SALE_PER_LANE_PER_S:
                units[lane] -= 1
            elif units[lane] <= LOW_STOCK and rng.random() < SALE_PER_LANE_PER_S:
                units[lane] = LANE_UNITS  # restocked
        seq += 1
        grams = tuple(u * UNIT_G + (1 if (seq + i) % 2 else -1) for i, u in enumerate(units))
        await _report(device, seq, grams, counts)
        await asyncio.sleep(1.0)


async def _report(device: Device, seq: int, grams: tuple[int, ...], counts: Counts) -> None:
    try:
        await device.send(Telemetry(seq, 3000, -60, 210, grams))
    except aiomqtt.MqttError:
        counts.failed_reports += 1  # QoS 0 is lost at times: the next report follows


@dataclass
class Counts:
    failed_reports: int = 0
    published: dict[str, float] = field(default_factory=dict)  # "probe/seq" -> wall time


PROBE_UNITS = 6
HOLD_S = 45.0  # a probe lane holds its units, then is empty, for this long each


async def _probe(
    device: Device, n: int, probes: int, counts: Counts, started: asyncio.Event
) -> None:
    """A probe sensor: each lane holds PROBE_UNITS, then nothing, for HOLD_S each, the lanes'
    cycles spread over all the probes' lanes; every report's publish time kept by seq (the
    benchmark matches the alert that names it: bench/store_devices.py)."""
    await device.send(_birth(ModelId.SHELF_SENSOR_8), qos=1)
    await started.wait()
    begun = time.monotonic()
    lanes = probes * LANES
    seq = 0
    while True:
        seq += 1
        elapsed = time.monotonic() - begun
        grams = []
        for lane in range(LANES):
            offset = 2 * HOLD_S * ((n - 1) * LANES + lane) / lanes
            full = ((elapsed + offset) % (2 * HOLD_S)) < HOLD_S
            units = PROBE_UNITS if full or elapsed < HOLD_S else 0
            grams.append(units * UNIT_G + (1 if (seq + lane) % 2 else -1))
        counts.published[f"{device.device_id}/{seq}"] = time.time()
        await _report(device, seq, tuple(grams), counts)
        await asyncio.sleep(1.0)


@dataclass
class RoomTimes:
    answers: list[tuple[float, float, int]]  # (wall time asked, ms, status)
    timeouts: int = 0


@dataclass(frozen=True)
class RoomPlan:
    tags: list[str]  # what shoppers bring in
    interval_s: float  # between a room's questions
    started: asyncio.Event  # every device is connected


async def _room(device: Device, rng: random.Random, plan: RoomPlan, times: RoomTimes) -> None:
    tags, interval_s, started = plan.tags, plan.interval_s, plan.started
    await device.send(_birth(ModelId.FITTING_ROOM_DISPLAY), qos=1)
    pending: dict[int, float] = {}
    answered: dict[int, asyncio.Future[int]] = {}

    async def listen() -> None:
        async for message in device.client.messages:
            frame = decode(bytes(message.payload))  # type: ignore[arg-type]
            if isinstance(frame, Response) and frame.txn in answered:
                answered[frame.txn].set_result(int(frame.status))

    listener = asyncio.create_task(listen())
    await started.wait()
    await asyncio.sleep(rng.uniform(0, interval_s))
    txn = 0
    try:
        while True:
            txn += 1
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            answered[txn] = future
            asked, wall = time.perf_counter(), time.time()
            pending[txn] = asked
            await device.send(Request(txn, RequestKind.STOCK_QUERY, rng.choice(tags)), qos=1)
            try:
                status = await asyncio.wait_for(future, 10.0)
                times.answers.append((wall, (time.perf_counter() - asked) * 1000, status))
            except TimeoutError:
                times.timeouts += 1
            del answered[txn], pending[txn]
            await asyncio.sleep(interval_s)
    finally:
        listener.cancel()


async def _run(args: argparse.Namespace) -> None:
    secret = os.environ["OMNISHELF_STORE_SECRET"]
    broker = BrokerAddress.parse(args.broker)
    rng = random.Random(args.seed)
    tags = clothing_tags(clothing_catalog())
    started = asyncio.Event()
    times = RoomTimes([])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    counts = Counts()
    ids = [(sensor_id(i), "sensor") for i in range(1, args.sensors + 1)]
    ids += [(room_id(i), "room") for i in range(1, args.rooms + 1)]
    ids += [(probe_id(i), "probe") for i in range(1, args.probes + 1)]
    async with asyncio.TaskGroup() as tasks:
        clients: list[aiomqtt.Client] = []
        workers = []
        for device_id, kind in ids:
            client = aiomqtt.Client(
                broker.host,
                broker.port,
                identifier=device_id,
                username=device_id,
                password=client_password(secret, device_id),
            )
            await client.__aenter__()
            send_at_once(client)
            clients.append(client)
            device = Device(device_id, client, DeviceAddress(args.store, device_id, device_id))
            if kind == "room":
                await client.subscribe(f"os1/{args.store}/down/{device_id}/#", qos=1)
                plan = RoomPlan(tags, args.room_interval, started)
                work = _room(device, random.Random(rng.random()), plan, times)
            elif kind == "probe":
                number = int(device_id.rsplit("-", 1)[1])
                work = _probe(device, number, args.probes, counts, started)
            else:
                work = _sensor(device, random.Random(rng.random()), started, counts)
            workers.append(tasks.create_task(work))
        started.set()
        sys.stdout.write(json.dumps({"ready": True, "devices": len(ids)}) + "\n")
        sys.stdout.flush()
        await stop.wait()
        for worker in workers:
            worker.cancel()
    for client in clients:
        await client.__aexit__(None, None, None)
    result = json.dumps(
        {
            "answers": times.answers,
            "timeouts": times.timeouts,
            "probe_reports": counts.published,
            "failed_reports": counts.failed_reports,
        }
    )
    await asyncio.to_thread(Path(args.out).write_text, result, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--sensors", type=int, default=500)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--probes", type=int, default=0, help="probe sensors (see _probe)")
    parser.add_argument("--room-interval", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--out", required=True)
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
