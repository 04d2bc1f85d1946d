"""The chaos run: a whole store over the real broker while its parts fail, checked continuously.

`make chaos` runs the long version, `make test` a bounded one (tests/bench/test_chaos.py). The
store is the benchmarks' rig (bench/store_rig.py): the shipped Mosquitto configuration, the
simulator and `omnishelf serve --no-api` in their own processes, HQ and a report watch here.
This process is also the controller's supervisor: a controller that exits is started again,
as systemd would (its exit codes are counted).

Faults, in this order, while HQ keeps changing prices:
1. a store-wide reprice batch; the broker is killed (SIGKILL) right after it acknowledged the
   batch to HQ, and restarted;
2. the controller killed (SIGKILL) twice during the reprice, and restarted;
3. the controller down while HQ publishes, then a broker SIGKILL and restart, then the
   controller started again;
4. the disk of the state database full (a small tmpfs filled up; root only), changes published
   meanwhile, then space again;
5. the access points die (the simulator killed with SIGKILL) and come back;
throughout: 5% of radio messages lost and 5% duplicated, labels going offline at times.

Checked:
- no label's revision ever goes down (every live report, from the watch);
- after the faults stop, every label shows the image of its item's latest version within
  `converge_s` (the labels' own reports against the controller's desired image; the stored
  versions against what HQ last had acknowledged);
- no change the broker acknowledged to HQ is lost (its version, or a newer one, is stored);
- the controller never stays half-alive: while the broker is up and work is due (a label to
  render, a push whose attempt has come) it makes progress, or it exits and is restarted.
"""

from __future__ import annotations

import argparse
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
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.chaos_clients import Hq, Watch
from bench.store_rig import StoreRig, StoreShape
from controller.local_broker import LocalBroker
from controller.provisioning import new_store_secret

CONVERGE_S = 60.0
STALL_S = 30.0  # no progress for this long while work is pending and the broker is up


@dataclass(frozen=True, slots=True)
class Work:
    """What the controller has to do, from its database."""

    to_render: int
    pushes_due: int
    pushes_later: int  # a retry or an offline label's push, put off on purpose

    @property
    def due(self) -> int:
        return self.to_render + self.pushes_due

    def __str__(self) -> str:
        return (
            f"{self.to_render} to render, {self.pushes_due} pushes due, {self.pushes_later} put off"
        )


def work_in_db(db: Path, now: datetime) -> Work:
    """The controller's work as its state database holds it at `now`."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        to_render = conn.execute("SELECT COUNT(*) FROM render_queue").fetchone()[0]
        retries = [
            datetime.fromisoformat(at)
            for (at,) in conn.execute("SELECT next_attempt_at FROM outbox")
        ]
    due = sum(1 for at in retries if at <= now)
    return Work(int(to_render), due, len(retries) - due)


@dataclass(frozen=True)
class ChaosPlan:
    labels: int = 200
    access_points: int = 2
    singles: int = 20  # single price changes published during each fault
    loss: float = 0.05
    duplication: float = 0.05
    offline_rate_per_h: float = 60.0  # windows of 20 s on average: a third of the labels offline
    offline_mean_s: float = 20.0
    rounds: int = 1  # the whole fault sequence, repeated
    converge_s: float = CONVERGE_S


@dataclass
class ChaosReport:
    labels: int = 0
    changes_published: int = 0
    changes_acknowledged: int = 0  # PUBACKed by the broker to HQ
    receipts: int = 0  # the controller's receipts HQ got
    messages_resent: int = 0  # no receipt within RESEND_S: HQ sent the message again
    unreceipted_at_end: int = 0  # messages still without a receipt when the run ended
    changes_lost: int = 0  # a receipt said stored, but neither it nor a newer version is
    acked_not_stored: int = 0  # PUBACKed by the broker, not stored at the end (needs a resend)
    broker_kills: int = 0
    controller_kills: int = 0
    controller_exits: dict[str, int] = field(default_factory=dict)  # exit code -> count
    controller_starts: int = 0
    access_point_crashes: int = 0
    disk_full: str = "not run"
    reports_seen: int = 0
    revision_regressions: int = 0
    stalls: int = 0  # the controller alive, the broker up, work pending, no progress
    peak_offline_devices: int = 0  # the most devices (labels, access points) offline at once
    labels_converged: int = 0
    converged_after_s: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.changes_lost == 0
            and self.acked_not_stored == 0
            and self.revision_regressions == 0
            and self.stalls == 0
            and self.labels_converged == self.labels
            and not self.problems
        )

    def rows(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in asdict(self).items()] + [("ok", str(self.ok))]


class ChaosRun:
    def __init__(self, plan: ChaosPlan, workdir: Path, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.workdir = workdir
        self.log = log
        self.report = ChaosReport(labels=plan.labels)
        self.broker = LocalBroker(workdir / "broker", new_store_secret())
        self.rig: StoreRig | None = None
        self.keep_controller = True  # the supervisor restarts an exited controller
        self.broker_up = True
        self._disk: Path | None = None
        self._progress_at = time.monotonic()

    # ---- processes ------------------------------------------------------------------------------

    @property
    def _rig(self) -> StoreRig:
        assert self.rig is not None
        return self.rig

    def start_controller(self) -> None:
        self._rig.start_controller()
        self.report.controller_starts += 1

    def kill_controller(self) -> None:
        process = self._rig.controller
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
            self.report.controller_kills += 1

    async def kill_running_controller(self, within_s: float = 30) -> None:
        """SIGKILL once the controller runs (the supervisor may be starting it again)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            process = self._rig.controller
            if process is not None and process.poll() is None:
                self.kill_controller()
                return
            await asyncio.sleep(0.2)
        self.report.problems.append("the controller was not running to be killed")

    def kill_broker(self) -> None:
        self.broker.kill()
        self.broker_up = False
        self.report.broker_kills += 1

    def restart_broker(self) -> None:
        self.broker.start()
        self.broker_up = True

    async def supervise(self) -> None:
        """Start the controller again when it exits (as systemd's Restart=always would)."""
        while True:
            await asyncio.sleep(0.5)
            process = self._rig.controller
            if not self.keep_controller or process is None:
                continue
            code = process.poll()
            if code is None:
                continue
            if code != -signal.SIGKILL:
                key = str(code)
                self.report.controller_exits[key] = self.report.controller_exits.get(key, 0) + 1
            await asyncio.sleep(1.0)
            if self.keep_controller:
                self.start_controller()

    async def watch_progress(self) -> None:
        """A controller alive with work due, the broker up, and nothing moving: a stall.

        Work is due when a label waits to be rendered or its push's next attempt has come. A
        push put off on purpose (a lost push's retry backs off to 2 x check-in + 10 s, doubling;
        an offline label's push waits for its Birth) is pending but not due: no progress while
        only such pushes remain is the controller keeping its schedule, not a stall."""
        last: tuple[int, int] | None = None
        stalled_since: float | None = None
        while True:
            await asyncio.sleep(1.0)
            try:
                state = await asyncio.to_thread(self._rig.converged_in_db)
                work = await asyncio.to_thread(work_in_db, self._rig.db, datetime.now(UTC))
                offline = await asyncio.to_thread(self._offline_labels)
            except sqlite3.Error:  # the disk is full: even reading needs a page now and then
                continue
            self.report.peak_offline_devices = max(self.report.peak_offline_devices, offline)
            process = self._rig.controller
            alive = process is not None and process.poll() is None
            if state != last or not work.due or not alive or not self.broker_up:
                last, stalled_since = state, None
                continue
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > STALL_S:
                self.report.stalls += 1
                self.report.problems.append(f"stall: {work}, {state[0]} agreeing")
                stalled_since = None

    # ---- HQ -----------------------------------------------------------------------------------

    async def reprice(self, hq: Hq, factor: Decimal) -> None:
        bodies = self._rig.reprice(factor)
        changes = [{"op": "upsert", "item": body} for body in bodies]
        batch_id = f"chaos-{time.time_ns()}"
        payload = json.dumps({"batch_id": batch_id, "changes": changes})
        topic = f"omnishelf/{self._rig.store}/catalog/batch"
        versions = {b["sku"]: b["version"] for b in bodies}
        await hq.send(f"batch:{batch_id}", topic, payload.encode(), versions)

    async def singles(self, hq: Hq, count: int) -> None:
        skus = list(self._rig.items)
        for n in range(count):
            body = self._rig.next_price(skus[(n * 7) % len(skus)], Decimal("0.99"))
            topic = f"omnishelf/{self._rig.store}/catalog/item/{body['sku']}"
            key = f"item:{body['sku']}:{body['version']}"
            await hq.send(key, topic, json.dumps(body).encode(), {body["sku"]: body["version"]})

    # ---- the disk -----------------------------------------------------------------------------

    def mount_disk(self, path: Path) -> bool:
        """A 64 MB tmpfs for the state database, so that it can be filled (root only)."""
        path.mkdir(parents=True)
        if os.geteuid() != 0:
            return False
        mount = ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(path)]
        if subprocess.run(mount, check=False, capture_output=True).returncode != 0:
            return False
        self._disk = path
        return True

    def unmount_disk(self) -> None:
        if self._disk is not None:
            subprocess.run(["umount", "-l", str(self._disk)], check=False)
            self._disk = None

    def fill_disk(self) -> Path:
        """Fill the state database's tmpfs. The WAL is emptied first: SQLite reuses a WAL's
        pages after a checkpoint, so a store that had just written a reprice could take the
        next one into its old WAL without needing a single new block of the full disk."""
        assert self._disk is not None
        self._truncate_wal()
        filler = self._disk / "filler"
        # Unbuffered: nothing is left to flush (and fail) at close.
        with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):  # ENOSPC
            while True:
                out.write(b"\0" * (1 << 20))
        return filler

    def _truncate_wal(self) -> None:
        for _ in range(50):  # busy while the controller's reader is inside a transaction
            with contextlib.closing(sqlite3.connect(self._rig.db, timeout=5)) as db:
                busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.1)
        self.report.problems.append("the WAL could not be emptied before the disk was filled")

    # ---- the run ------------------------------------------------------------------------------

    async def converge(self, within_s: float) -> float:
        """Seconds until every label shows its item's latest version (raises on time-out)."""
        started = time.monotonic()
        while time.monotonic() - started < within_s:
            with contextlib.suppress(sqlite3.Error):  # a full disk: ask again
                if await asyncio.to_thread(self._latest_everywhere):
                    return time.monotonic() - started
            await asyncio.sleep(0.5)
        raise TimeoutError

    def _offline_labels(self) -> int:
        with contextlib.closing(sqlite3.connect(f"file:{self._rig.db}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT COUNT(*) FROM devices WHERE online = 0").fetchone()
        return int(row[0])

    def _latest_everywhere(self) -> bool:
        rig = self._rig
        agreed, pending = rig.converged_in_db()
        if agreed != rig.shape.labels or pending:
            return False
        with contextlib.closing(sqlite3.connect(f"file:{rig.db}?mode=ro", uri=True)) as db:
            versions = dict(db.execute("SELECT sku, version FROM items").fetchall())
            desired = dict(db.execute("SELECT device_id, desired_hash FROM label_state"))
        if any(versions.get(sku) != body["version"] for sku, body in rig.items.items()):
            return False
        shown = self.watch.shown
        return all(shown.get(label) == desired.get(label) for label in rig.label_ids)

    def _count_final(self, hq: Hq) -> None:
        rig = self._rig
        with contextlib.closing(sqlite3.connect(f"file:{rig.db}?mode=ro", uri=True)) as db:
            versions = dict(db.execute("SELECT sku, version FROM items").fetchall())
            desired = dict(db.execute("SELECT device_id, desired_hash FROM label_state"))
        self.report.changes_lost = sum(
            1 for sku, v in hq.receipted.items() if (versions.get(sku) or 0) < v
        )
        self.report.acked_not_stored = sum(
            1 for sku, v in hq.acknowledged.items() if (versions.get(sku) or 0) < v
        )
        shown = self.watch.shown
        self.report.labels_converged = sum(
            1
            for label in rig.label_ids
            if desired.get(label) and shown.get(label) == desired[label]
        )

    async def run(self) -> ChaosReport:
        plan = self.plan
        self.broker.start()
        shape = StoreShape(plan.labels, render_workers=1)
        rig = StoreRig(self.broker, shape, self.workdir)
        self.rig = rig
        disk = self.workdir / "state"
        on_tmpfs = self.mount_disk(disk)
        rig.db = disk / "state.db"
        await rig.prepare()
        rig.start_simulator(
            loss=plan.loss,
            duplication=plan.duplication,
            offline_rate_per_h=plan.offline_rate_per_h,
            offline_mean_s=plan.offline_mean_s,
        )
        await rig.simulator_ready()
        credentials = rig.monitor_credentials()
        self.watch = Watch(self.broker, rig.store, credentials["watch"])
        hq = Hq(self.broker, rig.store, credentials["hq"])
        async with asyncio.TaskGroup() as tasks:
            background = [
                tasks.create_task(self.watch.run(), name="watch"),
                tasks.create_task(hq.run(), name="hq"),
                tasks.create_task(self.supervise(), name="supervisor"),
                tasks.create_task(self.watch_progress(), name="progress"),
            ]
            self.start_controller()
            await hq.connected.wait()
            try:
                await self.converge(180)  # the first convergence, before any fault
                for round_ in range(plan.rounds):
                    await self._faults(hq, round_, on_tmpfs)
                self.rig.end_radio_faults()
                self.log("faults over; waiting for every label")
                try:
                    self.report.converged_after_s = round(await self.converge(plan.converge_s), 1)
                except TimeoutError:
                    self.report.problems.append(
                        f"not every label showed its latest image within {plan.converge_s:.0f} s"
                    )
                self._count_final(hq)
            finally:
                self.keep_controller = False
                for task in background:
                    task.cancel()
        self.report.receipts = hq.receipts
        self.report.messages_resent = hq.resent
        self.report.unreceipted_at_end = hq.unreceipted
        self.report.changes_published = hq.published
        self.report.changes_acknowledged = len(hq.acknowledged)
        self.report.reports_seen = self.watch.reports
        self.report.revision_regressions = len(self.watch.regressions)
        self.report.problems += self.watch.regressions[:10]
        return self.report

    async def _faults(self, hq: Hq, round_: int, on_tmpfs: bool) -> None:
        plan = self.plan
        self.log(f"round {round_ + 1}: a reprice, then the broker killed right after its ack")
        await self.reprice(hq, Decimal("1.05"))
        self.kill_broker()
        await asyncio.sleep(2)
        self.restart_broker()

        self.log("the controller killed twice during the reprice")
        for _ in range(2):
            await asyncio.sleep(3)
            await self.kill_running_controller()  # the supervisor starts it again
        await self.singles(hq, plan.singles)

        self.log("HQ publishes while the controller is down; then the broker killed")
        await self.kill_running_controller()
        self.keep_controller = False  # no await since the kill: the supervisor has not seen it
        await self.singles(hq, plan.singles)
        self.kill_broker()
        await asyncio.sleep(1)
        self.restart_broker()
        self.keep_controller = True
        self.start_controller()

        if on_tmpfs:
            self.log("the state database's disk full, then space again")
            filler = await asyncio.to_thread(self.fill_disk)
            # A store-wide batch: more than the WAL's already allocated pages can hold.
            await self.reprice(hq, Decimal("0.97"))
            await self.singles(hq, plan.singles)
            await asyncio.sleep(8)
            filler.unlink()
            self.report.disk_full = "filled and freed"
        else:
            self.report.disk_full = "not possible here (a tmpfs needs root)"

        self.log("the access points die and come back")
        self._rig.crash_access_points()
        self.report.access_point_crashes += 1
        await self.singles(hq, plan.singles)

    def close(self, keep: Path | None = None) -> None:
        """Stop everything; with `keep`, copy the logs and databases there first (the state
        database lives on the tmpfs that is unmounted here)."""
        if self.rig is not None:
            self.rig.stop()
        self.broker.stop()
        if keep is not None:
            shutil.copytree(self.workdir, keep / "chaos", dirs_exist_ok=True)
        self.unmount_disk()


@contextlib.asynccontextmanager
async def chaos_run(plan: ChaosPlan, log: Callable[[str], None] = print) -> AsyncIterator[ChaosRun]:
    keep = os.environ.get("OMNISHELF_BENCH_KEEP")
    with tempfile.TemporaryDirectory(prefix="omnishelf-chaos-", dir=keep) as tmp:
        run = ChaosRun(plan, Path(tmp), log)
        try:
            yield run
        finally:
            run.close(Path(keep) if keep else None)


def print_report(report: ChaosReport, out: Any = sys.stdout) -> None:
    width = max(len(k) for k, _ in report.rows())
    out.write("chaos run\n")
    for key, value in report.rows():
        out.write(f"  {key.ljust(width)}  {value}\n")
    out.flush()


async def _main(plan: ChaosPlan) -> int:
    async with chaos_run(plan) as run:
        report = await run.run()
    print_report(report)
    return 0 if report.ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--access-points", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (1 <= args.labels <= 20_000 and 1 <= args.rounds <= 20):
        parser.error("--labels must be 1..20000 and --rounds 1..20")
    plan = ChaosPlan(labels=args.labels, access_points=args.access_points, rounds=args.rounds)
    sys.exit(asyncio.run(_main(plan)))


if __name__ == "__main__":
    main()
