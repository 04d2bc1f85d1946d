"""The whole demo store in one process: broker, simulator, controller, HQ and the web console.

`running_demo(workdir)` starts, in this order, and stops in the reverse one:
1. a private broker on a free port of 127.0.0.1 (never 1883): Mosquitto from deploy/mosquitto/
   when it is installed, else amqtt in this process (`amqtt_broker.py`), both with the derived
   passwords and the per-device ACLs;
2. a fresh state database holding the demo catalog (as an ERP import would), every label
   pre-registered, adopted and linked to an item at its shelf ("Reyon 3 / Raf 2"), every shelf
   sensor and fitting room registered and adopted, every sensor's lanes linked to grocery items
   (shop_floor.py), and API tokens for admin, staff and viewer: linking 1,000 labels one request
   at a time would only delay the opening;
3. the simulator's labels (they publish their births, retained);
4. the controller: the births catch every label up, so the first convergence of the whole store
   starts at once;
5. the shop floor: the simulated shelf sensors and fitting rooms with their shoppers, once the
   controller listens (shop_floor.py says what the first minute shows);
6. the demo HQ publishing catalog changes over MQTT every few seconds;
7. the web app (API and console) on 127.0.0.1:port, served by uvicorn in this event loop.

Every demo starts a new store: the state database of an earlier run is removed (the store
secret in the work dir is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from broker_access.address import BrokerAddress
from controller import http_server
from controller.api.app import create_app
from controller.api.rate_limits import EdgeLimits
from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.convergence import Counts
from controller.demo.amqtt_broker import running_amqtt
from controller.demo.catalog import DEFAULT_SKUS, demo_catalog, shelf_location
from controller.demo.display import SimulatorDisplay
from controller.demo.hq import DemoHq
from controller.demo.shop_floor import ShopFloor, build_floor, open_floor
from controller.errors import ControllerError
from controller.http_server import EmbeddedServer, PortUnavailable
from controller.local_broker import LocalBroker, find_mosquitto, free_port
from controller.pipeline.ingest import apply_changes
from controller.provisioning import new_store_secret
from controller.runtime import Controller
from controller.service import running_controller
from controller.settings import Settings
from controller.state.database import open_database, transaction
from controller.state.devices_repo import bind, register_device
from controller.state.labels_repo import Priority
from controller.state.ownership import StateInUse, owning_state
from controller.state.tokens_repo import Role, create_token
from device_sim.behaviour import Behaviour
from device_sim.label import SimLabel
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store
from label_renderer.batch import default_workers

STORE_ID = "kadikoy"
HOST = "127.0.0.1"
SIM_READY_TIMEOUT_S = 120.0
HQ_START_LATEST_S = 120.0
BROKERS = ("auto", "mosquitto", "amqtt")

# Fast enough to watch: labels wake every 3 s (real ones: 20-40 s) and refresh in 1-3 s.
DEMO_BEHAVIOUR = Behaviour(
    checkin_s=3.0,
    refresh_bw_s=1.0,
    refresh_colour_s=3.0,
    ap_throughput_bps=0.0,
    telemetry_every_s=120.0,
)


class DemoError(ControllerError):
    """The demo cannot start (port taken, broker missing); the message says what to do."""


@dataclass
class DemoStack:
    url: str
    tokens: dict[str, str]
    controller: Controller
    simulator: Simulator
    store: str
    hq: DemoHq
    broker: str  # "mosquitto" or "amqtt"
    broker_port: int
    labels: int
    floor: Simulator  # the shelf sensors and fitting rooms (the labels are in `simulator`)
    sensors: list[str]
    fitting_rooms: list[str]
    lanes: int  # linked, on all the sensors

    async def shown(self) -> int:
        """Labels that applied an image from the controller at least once (first convergence)."""
        return await count_labels(self.controller, SHOWN)

    async def progress(self) -> Counts:
        """The first convergence in one query: labels shown (as `shown`) and rendered. On the
        reader connection: the writer is busy converging."""
        query = f"SELECT count(desired_hash), coalesce(sum({SHOWN}), 0) FROM label_state"  # noqa: S608 - constants
        async with self.controller.render_stage.reader.execute(query) as cursor:
            row = await cursor.fetchone()
        rendered, shown = (int(row[0]), int(row[1])) if row else (0, 0)
        return Counts(total=self.labels, confirmed=shown, rendered=rendered)

    async def confirmed(self) -> int:
        """Labels showing the image the controller wants them to show, as they reported it."""
        return await count_labels(self.controller, CONFIRMED)


SHOWN = "reported_revision > 0"
CONFIRMED = "desired_hash IS NOT NULL AND reported_hash = desired_hash"


async def count_labels(controller: Controller, condition: str) -> int:
    """Labels whose state meets `condition` (SHOWN or CONFIRMED)."""
    query = f"SELECT count(*) FROM label_state WHERE {condition}"  # noqa: S608 - constants
    async with controller.conn.execute(query) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def listen_socket(port: int, host: str = HOST) -> socket.socket:
    """A listening socket on host:port (0: any free port); DemoError if it is taken."""
    try:
        return http_server.listen_socket(port, host)
    except PortUnavailable as exc:
        raise DemoError(f"{exc}; pick another with --port") from exc


def store_secret(workdir: Path) -> str:
    """The demo store's secret, created once in the work dir, readable by this user only."""
    path = workdir / "store-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_store_secret() + "\n")
    return path.read_text(encoding="utf-8").strip()


def pick_broker(choice: str) -> str:
    if choice not in BROKERS:
        raise DemoError(f"--broker must be one of {', '.join(BROKERS)}, not {choice!r}")
    if choice == "amqtt":
        return "amqtt"
    try:
        find_mosquitto()
    except ControllerError as exc:
        if choice == "mosquitto":
            raise DemoError(f"{exc}; or run with --broker amqtt") from exc
        return "amqtt"
    return "mosquitto"


def assign_items(labels: Sequence[SimLabel], items: Sequence[CatalogItem]) -> dict[str, str]:
    """Label id -> SKU: shelf-edge labels go through the catalog in order (so each item has a
    label), the big 4.2" and 7.5" boards show the items on promotion."""
    promoted = [i.sku for i in items if i.promotion is not None] or [i.sku for i in items]
    shelf = [i.sku for i in items]
    chosen: dict[str, str] = {}
    n_shelf = n_board = 0
    for label in labels:
        if label.model.width >= 400:
            chosen[label.device_id] = promoted[n_board % len(promoted)]
            n_board += 1
        else:
            chosen[label.device_id] = shelf[n_shelf % len(shelf)]
            n_shelf += 1
    return chosen


def _remove_state(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


async def open_store(
    db: Path,
    simulator: Simulator,
    items: Sequence[CatalogItem],
    now: datetime,
    floor: ShopFloor | None = None,
) -> dict[str, str]:
    """The new store's state: catalog, labels registered, adopted and linked, the floor's devices
    adopted and its lanes linked; returns the API tokens by role name."""
    _remove_state(db)
    labels = sorted(simulator.labels(), key=lambda label: label.device_id)
    chosen = assign_items(labels, items)
    tokens: dict[str, str] = {}
    async with open_database(db) as conn:
        await apply_changes(
            conn, [Upsert(i) for i in items], actor="hq-import", at=now, priority=Priority.BULK
        )
        async with transaction(conn):
            for index, label in enumerate(labels):
                await register_device(
                    conn,
                    label.device_id,
                    model=int(label.model.id),
                    gateway_id=simulator.gateway_of(label.device_id).gateway_id,
                    adopted=True,
                )
                await bind(
                    conn,
                    label.device_id,
                    chosen[label.device_id],
                    template=None,
                    page=1,
                    at=now,
                    actor="demo-setup",
                    location=shelf_location(index),
                )
        if floor is not None:
            await open_floor(conn, floor)
        for role in Role:
            _, tokens[role.value] = await create_token(
                conn, role.value, role, at=now, created_by="demo-setup"
            )
    return tokens


@contextlib.contextmanager
def _owning_workdir(workdir: Path) -> Iterator[None]:
    """This demo owns the work dir's state for its whole run: another demo on the same work dir
    refuses before it touches anything (it used to recreate the database under a running one)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as owned:
        try:
            owned.enter_context(owning_state(workdir / "state.db"))
        except StateInUse as exc:
            raise DemoError(
                f"another demo (or controller) is running on {workdir} ({exc.holder}); "
                "stop it, or give this one its own --workdir"
            ) from exc
        yield


@contextlib.asynccontextmanager
async def _broker(
    kind: str, workdir: Path, secret: str
) -> AsyncIterator[tuple[int, LocalBroker | None]]:
    if kind == "mosquitto":
        with LocalBroker(workdir / "mosquitto", secret, stores=(STORE_ID,)) as mosquitto:
            yield mosquitto.port, mosquitto
        return
    port = free_port()
    async with running_amqtt(secret, port, HOST):
        yield port, None


@contextlib.asynccontextmanager
async def running_demo(
    workdir: Path,
    *,
    port: int = 0,
    labels: int = 1000,
    sensors: int = 12,
    fitting_rooms: int = 4,
    catalog_interval_s: float = 3.0,
    seed: int = 1,
    broker: str = "auto",
    workers: int | None = None,
    access_points: int | None = None,
    skus: int = DEFAULT_SKUS,
    behaviour: Behaviour = DEMO_BEHAVIOUR,
    limits: EdgeLimits | None = None,
) -> AsyncIterator[DemoStack]:
    """The demo store, running until the block ends; see the module docstring.

    `port` 0 serves on a free port; `sensors` shelf sensors and `fitting_rooms` rooms (0: none);
    `workers` render processes (default: one per core);
    `access_points` carry the labels (default: one per 100 labels; 0 = every label connects
    directly); `limits` the HTTP edge's (default: the product's).
    """
    kind = pick_broker(broker)
    sock = listen_socket(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}"
    with contextlib.closing(sock), _owning_workdir(workdir):
        secret = store_secret(workdir)
        now = datetime.now(UTC)
        items = demo_catalog(now, seed=seed, skus=skus)
        aps = access_points if access_points is not None else max(1, labels // 100)
        spec = StoreSpec(STORE_ID, labels, access_points=aps)
        gateways = build_store(spec, dataclasses.replace(behaviour, seed=seed))
        floor = build_floor(
            STORE_ID, items, sensors=sensors, fitting_rooms=fitting_rooms, seed=seed, at=now
        )
        async with _broker(kind, workdir, secret) as (broker_port, mosquitto):
            simulator = Simulator(gateways, BrokerAddress(HOST, broker_port), secret)
            shop_floor = Simulator(floor.gateways, BrokerAddress(HOST, broker_port), secret)
            if mosquitto is not None:
                mosquitto.add_clients(simulator.gateway_ids + shop_floor.gateway_ids)
            tokens = await open_store(workdir / "state.db", simulator, items, now, floor)
            settings = Settings(
                store_id=STORE_ID,
                broker_url=f"mqtt://{HOST}:{broker_port}",
                store_secret=secret,  # type: ignore[arg-type]
                state_db=workdir / "state.db",
                adopt=("lbl-*", "shelf-*", "fit-*"),
                adopt_access_points=("ap-*",),
                public_url=url,
                render_workers=workers or default_workers(),
                http_port=sock.getsockname()[1],
            )
            hq = DemoHq(STORE_ID, items, seed=seed, interval_s=catalog_interval_s)
            async with asyncio.TaskGroup() as tasks:
                sim_ready = asyncio.Event()
                sim_task = tasks.create_task(simulator.run(ready=sim_ready), name="simulator")
                await _wait(sim_ready, sim_task, SIM_READY_TIMEOUT_S, "the simulator to connect")
                async with running_controller(settings, workers=settings.render_workers) as ctl:
                    # Shoppers come once the controller listens: nothing they do is lost.
                    floor_task = tasks.create_task(shop_floor.run(), name="shop-floor")
                    app = create_app(
                        settings,
                        controller=ctl,
                        display=SimulatorDisplay(simulator),
                        demo=True,
                        limits=limits,
                    )
                    # Ctrl-C belongs to whoever runs the demo: it cancels the stack,
                    # which stops uvicorn.
                    server = EmbeddedServer(
                        # A browser's open event stream must not hold up Ctrl-C.
                        uvicorn.Config(
                            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
                        )
                    )
                    web = tasks.create_task(server.serve(sockets=[sock]), name="web")
                    hq_task = tasks.create_task(
                        _hq_after_opening(
                            hq, ctl, labels, host=HOST, port=broker_port, secret=secret
                        ),
                        name="demo-hq",
                    )
                    try:
                        while not server.started:
                            if web.done():
                                web.result()
                                raise DemoError("the web server stopped at start")
                            await asyncio.sleep(0.02)
                        yield DemoStack(
                            url=url,
                            tokens=tokens,
                            controller=ctl,
                            simulator=simulator,
                            store=STORE_ID,
                            hq=hq,
                            broker=kind,
                            broker_port=broker_port,
                            labels=labels,
                            floor=shop_floor,
                            sensors=list(floor.sensors),
                            fitting_rooms=list(floor.rooms),
                            lanes=len(floor.lanes),
                        )
                    finally:
                        hq_task.cancel()
                        server.should_exit = True
                        with contextlib.suppress(asyncio.CancelledError):
                            await web
                        floor_task.cancel()
                        sim_task.cancel()


async def _hq_after_opening(
    hq: DemoHq, ctl: Controller, labels: int, *, host: str, port: int, secret: str
) -> None:
    """HQ starts once every label shows its first image (or after HQ_START_LATEST_S).

    Why wait: a catalog change that reaches a label's first push while the store is opening can
    leave that label waiting for the push's retry timeout (found with 3,000 labels; reported to
    the controller's owners), and the demo's first convergence should not depend on it.
    """
    deadline = asyncio.get_running_loop().time() + HQ_START_LATEST_S
    while asyncio.get_running_loop().time() < deadline:
        if await count_labels(ctl, SHOWN) >= labels:
            break
        await asyncio.sleep(1.0)
    await hq.run(host, port, secret)


async def _wait(event: asyncio.Event, task: asyncio.Task[None], within_s: float, what: str) -> None:
    waiter = asyncio.ensure_future(event.wait())
    done, _ = await asyncio.wait(
        {waiter, task}, timeout=within_s, return_when=asyncio.FIRST_COMPLETED
    )
    if waiter not in done:
        waiter.cancel()
        if task in done:
            task.result()
        raise DemoError(f"timed out after {within_s:.0f} s waiting for {what}")
