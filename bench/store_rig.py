"""A whole store for the pipeline benchmarks, each part in its own process as in a real store.

- the broker: the caller's `LocalBroker` (the shipped Mosquitto config, authentication and ACL on);
- the simulator: `bench.sim_process` in a child process, every label immediate (no wake delay);
- the controller: `omnishelf serve --no-api` in a child process, its state in a fresh SQLite
  file prepared beforehand with the catalog and every label adopted and linked (as a store is
  after its installation);
- HQ: this process publishes catalog changes over MQTT as the `hq` user;
- the watch: this process subscribes to every label's Reported (what it displays) and notes when
  each label's revision goes up. A new revision is new content: the controller never resends an
  image with an unchanged content hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomqtt

from bench.device_load import clothing_catalog, prepare_devices
from bench.harness import peak_rss_mb, rss_mb, tree_cpu_seconds, tree_rss_mb
from bench.sim_process import BEHAVIOUR
from broker_access.credentials import client_password, hq_user, observer_user
from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext, label_content
from controller.demo.catalog import demo_catalog, shelf_location
from controller.local_broker import LocalBroker
from controller.pipeline.ingest import apply_changes
from controller.state.database import open_database, transaction
from controller.state.devices_repo import bind
from controller.state.fleet_repo import BirthFacts, record_birth
from device_sim.label import SimLabel
from device_sim.mqtt import send_at_once
from device_sim.store import StoreSpec, build_store
from firmware_protocol.codec import decode
from firmware_protocol.messages import Desired, Reported
from firmware_protocol.topics import ROOT
from label_renderer.batch import RenderJob, render_job

LABELS_PER_ITEM = 1.25  # 20,000 labels show 16,000 items: most items one label, some two
LABELS_PER_ACCESS_POINT = 1000


@dataclass(frozen=True)
class StoreShape:
    labels: int
    render_workers: int = max(1, os.cpu_count() or 1)
    labels_per_access_point: int = LABELS_PER_ACCESS_POINT
    sensors: int = 0  # shelf sensors of 8 lanes, a report a second each (bench/device_load.py)
    rooms: int = 0  # fitting rooms
    probe_sensors: int = 0  # shelf sensors the benchmark itself drives (bench/store_devices.py)

    @property
    def devices(self) -> bool:
        return bool(self.sensors or self.rooms or self.probe_sensors)

    @property
    def items(self) -> int:
        return max(1, round(self.labels / LABELS_PER_ITEM))

    @property
    def access_points(self) -> int:
        return max(1, -(-self.labels // self.labels_per_access_point))


@dataclass
class Shown:
    revision: int = 0
    content_hash: bytes = b""
    at: float = 0.0  # perf_counter when the report arrived


@dataclass
class ReportWatch:
    """What each label reports showing, and waiters for a label to show an image."""

    shown: dict[str, Shown] = field(default_factory=dict)
    _waiters: dict[str, list[tuple[bytes, asyncio.Future[float]]]] = field(default_factory=dict)
    reports: int = 0
    _above: dict[str, int] = field(default_factory=dict)  # armed: label -> revision to exceed
    crossed: dict[str, float] = field(default_factory=dict)  # label -> when it first did
    offered: dict[tuple[str, bytes], float] = field(default_factory=dict)  # when each Desired
    downlink_messages: int = 0  # what the controller sent labels (Desired and chunks)
    downlink_bytes: int = 0

    def on_report(self, device_id: str, revision: int, content_hash: bytes) -> None:
        now = time.perf_counter()
        self.reports += 1
        entry = self.shown.setdefault(device_id, Shown())
        if revision <= entry.revision:
            return  # a repeated report
        entry.revision, entry.content_hash, entry.at = revision, content_hash, now
        if revision > self._above.get(device_id, revision) and device_id not in self.crossed:
            self.crossed[device_id] = now
        waiting = self._waiters.get(device_id)
        if not waiting:
            return
        still = []
        for wanted, future in waiting:
            if content_hash == wanted:
                if not future.done():
                    future.set_result(now)
            else:
                still.append((wanted, future))
        self._waiters[device_id] = still

    def showing(self, device_id: str, content_hash: bytes) -> asyncio.Future[float]:
        """Resolves with the arrival time of the first report of `content_hash`."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        entry = self.shown.get(device_id)
        if entry is not None and entry.content_hash == content_hash:
            future.set_result(entry.at)
        else:
            self._waiters.setdefault(device_id, []).append((content_hash, future))
        return future

    def revision(self, device_id: str) -> int:
        entry = self.shown.get(device_id)
        return entry.revision if entry else 0

    def arm(self, labels: Iterable[str]) -> None:
        """From now on note when each of `labels` first shows a newer revision than now."""
        self._above = {label: self.revision(label) for label in labels}
        self.crossed = {}


def _repriced(body: dict[str, Any], version: int, factor: Decimal) -> dict[str, Any]:
    """The same item at a new price (a running promotion's price moves with it)."""
    body = dict(body)
    body["version"] = version
    body["price"] = str((Decimal(body["price"]) * factor).quantize(Decimal("0.01")))
    if body.get("promotion"):
        promotion = dict(body["promotion"])
        promotion["price"] = str((Decimal(promotion["price"]) * factor).quantize(Decimal("0.01")))
        body["promotion"] = promotion
    return body


class StoreRig:
    """Use `running_store(broker, shape)`; then `publish_*`, `watch`, `controller_*`."""

    def __init__(self, broker: LocalBroker, shape: StoreShape, workdir: Path) -> None:
        self.broker = broker
        self.shape = shape
        self.workdir = workdir
        # Its own topic tree on the shared broker: a store run before left retained births
        # and reports there, which a controller of the same store id would take for its own.
        self.store = f"bench-{shape.labels}" + ("-devices" if shape.devices else "")
        self.db = workdir / "state.db"
        self.watch = ReportWatch()
        self.label_ids: list[str] = []
        self.labels_of: dict[str, list[str]] = {}  # sku -> labels
        self.shelved: set[str] = set()  # items on a shelf sensor's lane (the devices scenario)
        self.items: dict[str, dict[str, Any]] = {}  # sku -> the body HQ last sent
        self.model_of: dict[str, str] = {}  # label -> model name
        self.context = StoreContext(self.store, "tr-TR", base_url="https://shop.example")
        self.controller: subprocess.Popen[bytes] | None = None
        self.simulator: subprocess.Popen[bytes] | None = None
        self.sim_rss: dict[str, float] = {}
        self._hq: aiomqtt.Client | None = None
        self._versions: dict[str, int] = {}
        self._profilers: list[subprocess.Popen[bytes]] = []
        self.device_load: subprocess.Popen[bytes] | None = None
        self.alerts: list[tuple[float, dict[str, Any]]] = []  # (wall time, document) as heard

    # ---- set-up -------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """The catalog, and every label adopted and linked, in the controller's database."""
        spec = StoreSpec(self.store, self.shape.labels, access_points=self.shape.access_points)
        gateways = build_store(spec, BEHAVIOUR)
        self.broker.add_store(self.store)
        self.broker.add_clients([gw.gateway_id for gw in gateways])
        now = datetime.now(UTC)
        catalog = demo_catalog(now, seed=7, skus=self.shape.items)[: self.shape.items]
        skus = [item.sku for item in catalog]
        for item in catalog:
            self.items[item.sku] = item.model_dump(mode="json", exclude_none=True)
            self._versions[item.sku] = item.version or 1
        async with open_database(self.db) as conn:
            await apply_changes(conn, [Upsert(i) for i in catalog], actor="install", at=now)
            async with transaction(conn):
                n = 0
                for gateway in gateways:
                    for device in gateway.devices.values():
                        assert isinstance(device, SimLabel)
                        label = device.device_id
                        facts = BirthFacts(
                            gateway.gateway_id, int(device.model.id), 0, "1.0.0", 3000, 4096, 2, 0
                        )
                        await record_birth(conn, label, facts, now, adopt=True)
                        sku = skus[n % len(skus)]
                        await bind(
                            conn,
                            label,
                            sku,
                            template=None,
                            page=1,
                            at=now,
                            actor="install",
                            location=shelf_location(n),
                        )
                        self.label_ids.append(label)
                        self.model_of[label] = device.model.name
                        self.labels_of.setdefault(sku, []).append(label)
                        n += 1
            if self.shape.devices:
                clothing = clothing_catalog()
                await apply_changes(conn, [Upsert(i) for i in clothing], actor="install", at=now)
                devices, self.shelved = await prepare_devices(
                    conn,
                    sensors=self.shape.sensors,
                    rooms=self.shape.rooms,
                    probes=self.shape.probe_sensors,
                    skus=skus,
                    at=now,
                )
                self.broker.add_clients(devices)
            # The install's own render queue is what the controller works through first.

    def start_simulator(self, **behaviour: float) -> None:
        """The simulator process; `behaviour` overrides its instant labels' knobs (loss,
        duplication, offline_rate_per_h, offline_mean_s: the chaos run's radio faults)."""
        env = {**os.environ, "OMNISHELF_STORE_SECRET": self.broker.store_secret}
        knobs = [f"--{name.replace('_', '-')}={value}" for name, value in behaviour.items()]
        with (self.workdir / "simulator.log").open("ab") as log:  # the child keeps a copy
            self.simulator = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.sim_process",
                    "--broker",
                    self.broker.url,
                    "--store",
                    self.store,
                    "--labels",
                    str(self.shape.labels),
                    "--access-points",
                    str(self.shape.access_points),
                    *knobs,
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
            )

    async def simulator_ready(self, within_s: float = 120) -> None:
        assert self.simulator is not None
        assert self.simulator.stdout is not None
        stdout = self.simulator.stdout
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            line = await asyncio.to_thread(stdout.readline)
            if not line:
                raise RuntimeError(f"the simulator exited; see {self.workdir / 'simulator.log'}")
            said = json.loads(line)
            self.sim_rss[said["phase"]] = said["rss_mb"]
            if said["phase"] == "ready":
                return
        raise TimeoutError("the simulator did not connect")

    def start_controller(self) -> None:
        env = {
            **os.environ,
            "OMNISHELF_STORE_ID": self.store,
            "OMNISHELF_BROKER_URL": self.broker.url,
            "OMNISHELF_STORE_SECRET": self.broker.store_secret,
            "OMNISHELF_STATE_DB": str(self.db),
            "OMNISHELF_ADOPT": '["lbl-*", "shelf-*", "fit-*"]',
            "OMNISHELF_ADOPT_ACCESS_POINTS": '["ap-*"]',
            "OMNISHELF_RENDER_WORKERS": str(self.shape.render_workers),
            "OMNISHELF_PUBLIC_URL": "https://shop.example",
        }
        omnishelf = Path(sys.executable).parent / "omnishelf"
        with (self.workdir / "controller.log").open("ab") as out:
            self.controller = subprocess.Popen(
                [str(omnishelf), "serve", "--no-api"],
                env=env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def _profile(self, pid: int, name: str) -> subprocess.Popen[bytes] | None:
        """With $OMNISHELF_BENCH_PYSPY set (and py-spy installed), sample the process until it
        ends or `end_profile`: collapsed stacks per thread (`--threads`, active samples only) in
        `name`.txt under the rig's directory (keep it with $OMNISHELF_BENCH_KEEP;
        `python -m bench.profile_report FILE` summarises one)."""
        if not os.environ.get("OMNISHELF_BENCH_PYSPY"):
            return None
        py_spy = Path(sys.executable).parent / "py-spy"
        out = self.workdir / f"{name}.txt"
        command = [str(py_spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
        command += ["--threads", "--nonblocking", "-o", str(out)]
        with (self.workdir / "py-spy.log").open("ab") as log:  # the child keeps a copy
            profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        self._profilers.append(profiler)
        return profiler

    def profile_controller(self, phase: str) -> subprocess.Popen[bytes] | None:
        """Sample the controller during one phase: controller-`phase`.txt (see `_profile`)."""
        return self._profile(self.controller_pid, f"controller-{phase}")

    @staticmethod
    def end_profile(profiler: subprocess.Popen[bytes] | None) -> None:
        """Stop a phase's profiler; py-spy writes its file on SIGINT."""
        if profiler is None or profiler.poll() is not None:
            return
        profiler.send_signal(signal.SIGINT)
        try:
            profiler.wait(30)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait()

    async def watch_reports(self) -> None:
        """Feed `self.watch` from every label's Reported, for as long as the rig runs."""
        async with aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=observer_user(self.store),
            username=observer_user(self.store),
            password=client_password(self.broker.store_secret, observer_user(self.store)),
            max_queued_incoming_messages=0,
        ) as client:
            send_at_once(client)
            await client.subscribe(f"{ROOT}/{self.store}/up/+/+/reported", qos=0)
            await client.subscribe(f"{ROOT}/{self.store}/down/+/+/desired", qos=0)
            await client.subscribe(f"{ROOT}/{self.store}/down/+/+/chunk", qos=0)
            async for message in client.messages:
                payload = message.payload
                if not isinstance(payload, bytes | bytearray) or not payload:
                    continue
                if "/down/" in message.topic.value:
                    self.watch.downlink_messages += 1
                    self.watch.downlink_bytes += len(payload)
                    if message.topic.value.endswith("/chunk"):
                        continue
                frame = decode(bytes(payload))
                device_id = message.topic.value.split("/")[4]
                if isinstance(frame, Reported):
                    self.watch.on_report(device_id, frame.revision, frame.content_hash)
                elif isinstance(frame, Desired):
                    self.watch.offered[(device_id, frame.content_hash)] = time.perf_counter()

    def monitor_credentials(self) -> dict[str, tuple[str, str, str]]:
        """(client id, username, password) of the chaos run's report watch and HQ."""
        secret = self.broker.store_secret
        watch, hq = observer_user(self.store), hq_user(self.store)
        return {
            "watch": (watch, watch, client_password(secret, watch)),
            "hq": (hq, hq, client_password(secret, hq)),
        }

    # ---- waiting ------------------------------------------------------------------------------

    async def all_crossed(self, within_s: float) -> float:
        """When the last armed label showed a newer revision (perf_counter)."""
        deadline = time.monotonic() + within_s
        while len(self.watch.crossed) < len(self.watch._above):
            if time.monotonic() > deadline:
                missing = len(self.watch._above) - len(self.watch.crossed)
                raise TimeoutError(f"{missing} labels never showed new content")
            await asyncio.sleep(0.05)
        return max(self.watch.crossed.values(), default=time.perf_counter())

    def converged_in_db(self) -> tuple[int, int]:
        """(labels whose reported image is their desired one, pushes still pending)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            agreed = db.execute(
                "SELECT COUNT(*) FROM label_state WHERE desired_hash IS NOT NULL"
                " AND reported_hash = desired_hash AND reported_revision = desired_revision"
            ).fetchone()[0]
            pending = db.execute(
                "SELECT (SELECT COUNT(*) FROM render_queue) + (SELECT COUNT(*) FROM outbox)"
            ).fetchone()[0]
        return int(agreed), int(pending)

    async def settled(self, within_s: float = 120) -> None:
        """Every label's report agrees with its desired image and nothing is queued."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            agreed, pending = await asyncio.to_thread(self.converged_in_db)
            if agreed == self.shape.labels and pending == 0:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{agreed} of {self.shape.labels} labels agree, {pending} pending")

    # ---- HQ -----------------------------------------------------------------------------------

    def _next(self, sku: str, factor: Decimal) -> dict[str, Any]:
        self._versions[sku] += 1
        body = _repriced(self.items[sku], self._versions[sku], factor)
        self.items[sku] = body
        return body

    def plain_items(self) -> list[str]:
        """Items without a promotion and on no shelf sensor's lane: a price change's image
        depends on the item alone (a promotion's prior price also depends on the store's price
        history, a shelved item's stock badge on what the sensor counts)."""
        return [
            sku
            for sku, body in self.items.items()
            if not body.get("promotion") and sku not in self.shelved
        ]

    def next_price(self, sku: str, factor: Decimal = Decimal("1.03")) -> dict[str, Any]:
        """The item's next version at a new price (HQ's copy is updated)."""
        return self._next(sku, factor)

    def expected_hashes(self, body: dict[str, Any]) -> dict[str, bytes]:
        """The content hash each label of the item will show for `body` (rendered here)."""
        content = label_content(
            CatalogItem.model_validate(body), self.context, datetime.now(UTC), None
        )
        wanted = {}
        for label in self.labels_of[body["sku"]]:
            result = render_job(RenderJob(label, content, self.model_of[label], None, 1))
            assert result.ok, result.error
            wanted[label] = result.content_hash
        return wanted

    async def publish_item(self, body: dict[str, Any]) -> None:
        assert self._hq is not None
        topic = f"omnishelf/{self.store}/catalog/item/{body['sku']}"
        await self._hq.publish(topic, json.dumps(body).encode(), qos=1)

    def reprice(self, factor: Decimal = Decimal("1.07")) -> list[dict[str, Any]]:
        """Every item's next version at a new price."""
        return [self._next(sku, factor) for sku in self.items]

    async def publish_batch(self, bodies: list[dict[str, Any]]) -> int:
        """One catalog batch; returns its size in bytes."""
        assert self._hq is not None
        changes = [{"op": "upsert", "item": body} for body in bodies]
        payload = json.dumps({"batch_id": f"reprice-{time.time_ns()}", "changes": changes})
        await self._hq.publish(f"omnishelf/{self.store}/catalog/batch", payload.encode(), qos=1)
        return len(payload)

    # ---- the controller process ---------------------------------------------------------------

    @property
    def controller_pid(self) -> int:
        assert self.controller is not None
        return self.controller.pid

    def controller_cpu_s(self) -> float:
        return tree_cpu_seconds(self.controller_pid)

    def controller_memory(self) -> dict[str, float]:
        pid = self.controller_pid
        main = rss_mb(pid)
        return {
            "controller_rss_mb": round(main, 1),
            "controller_peak_rss_mb": round(peak_rss_mb(pid), 1),
            "render_workers_rss_mb": round(tree_rss_mb(pid) - main, 1),
        }

    def crash_access_points(self) -> None:
        """Every access point's connection dies without a goodbye (bench/sim_process.py)."""
        assert self.simulator is not None
        self.simulator.send_signal(signal.SIGUSR1)

    def end_radio_faults(self) -> None:
        """No more loss, duplication or offline windows (bench/sim_process.py)."""
        assert self.simulator is not None
        self.simulator.send_signal(signal.SIGUSR2)

    def simulator_rss_mb(self) -> float:
        assert self.simulator is not None
        return rss_mb(self.simulator.pid)

    async def hear_alerts(self) -> None:
        """Note each alert heard on the alert topic, with when (wall time), on HQ's client: the
        report watch's connection carries every label's traffic, which an alert would queue
        behind."""
        assert self._hq is not None
        await self._hq.subscribe(f"omnishelf/{self.store}/alerts/#", qos=1)
        async for message in self._hq.messages:
            payload = message.payload
            if isinstance(payload, bytes | bytearray) and payload:
                self.alerts.append((time.time(), json.loads(payload)))

    def start_device_load(self, out: Path, room_interval_s: float) -> None:
        """bench/device_load.py's sensors and rooms, in a process of their own."""
        env = {**os.environ, "OMNISHELF_STORE_SECRET": self.broker.store_secret}
        with (self.workdir / "device_load.log").open("ab") as log:
            self.device_load = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.device_load",
                    f"--broker={self.broker.url}",
                    f"--store={self.store}",
                    f"--sensors={self.shape.sensors}",
                    f"--rooms={self.shape.rooms}",
                    f"--probes={self.shape.probe_sensors}",
                    f"--room-interval={room_interval_s}",
                    f"--out={out}",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
            )

    async def device_load_ready(self, within_s: float = 120) -> None:
        assert self.device_load is not None
        assert self.device_load.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.device_load.stdout.readline), within_s)
        if not line:
            raise RuntimeError(f"the device load exited; see {self.workdir / 'device_load.log'}")

    def stop_device_load(self) -> None:
        """SIGTERM: it writes its results and ends."""
        if self.device_load is not None and self.device_load.poll() is None:
            self.device_load.terminate()
            try:
                self.device_load.wait(30)
            except subprocess.TimeoutExpired:
                self.device_load.kill()
                self.device_load.wait()

    def stop(self) -> None:
        if self.simulator is not None and self.simulator.stdout is not None:
            self.simulator.stdout.close()
        self.stop_device_load()
        processes = [p for p in (self.controller, self.simulator) if p is not None]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes + self._profilers:  # a profiler ends with its process
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.asynccontextmanager
async def running_store(broker: LocalBroker, shape: StoreShape) -> AsyncIterator[StoreRig]:
    """A prepared store, its simulator connected and its controller started (not yet converged:
    the caller times the first convergence with `settled`)."""
    keep = os.environ.get("OMNISHELF_BENCH_KEEP")  # a directory: keep the logs and database there
    with tempfile.TemporaryDirectory(prefix="omnishelf-bench-", dir=keep) as tmp:
        rig = StoreRig(broker, shape, Path(tmp))
        try:
            await rig.prepare()
            rig.start_simulator()
            await rig.simulator_ready()
            assert rig.simulator is not None
            rig._profile(rig.simulator.pid, "simulator")
            async with asyncio.TaskGroup() as tasks:
                watch = tasks.create_task(rig.watch_reports(), name="report-watch")
                await asyncio.sleep(0.2)  # the watch's subscription is in place
                async with aiomqtt.Client(
                    broker.host,
                    broker.port,
                    identifier=hq_user(rig.store),
                    username=hq_user(rig.store),
                    password=client_password(broker.store_secret, hq_user(rig.store)),
                    max_inflight_messages=100,
                ) as hq:
                    send_at_once(hq)
                    rig._hq = hq
                    rig.start_controller()
                    try:
                        yield rig
                    finally:
                        watch.cancel()
        finally:
            rig.stop()
            if keep:
                shutil.copytree(tmp, Path(keep) / f"store-{shape.labels}", dirs_exist_ok=True)
