"""The controller killed with SIGKILL in the middle of a 1,000-label reprice, then restarted; its
device link process killed in the middle of one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.device_link.process import WORKER
from controller.local_broker import LocalBroker
from controller.pipeline.ingest import apply_changes
from controller.state.database import open_database
from controller.state.devices_repo import bind
from controller.state.fleet_repo import BirthFacts, record_birth
from device_sim.behaviour import Behaviour
from firmware_protocol.messages import NO_HASH
from tests.support.processes import RunningProcess, descendants
from tests.support.running import running
from tests.support.serve_process import converged, start_serve
from tests.support.store_kit import Store, fresh_planes, item, store_with_labels

LABELS = 1000
ITEMS = 100
pytestmark = pytest.mark.timeout(300)


async def _prepare(rig: Store) -> dict[str, str]:
    """Items and adopted, linked labels in the state database before the controller starts."""
    now = datetime.now(UTC)
    plan = {label: f"SKU-{i % ITEMS:03d}" for i, label in enumerate(rig.labels)}
    async with open_database(rig.db) as conn:
        changes = [
            Upsert(CatalogItem.model_validate(item(f"SKU-{n:03d}", f"{10 + n}.00", version=1)))
            for n in range(ITEMS)
        ]
        await apply_changes(conn, changes, actor="test", at=now)
        for label, sku in plan.items():
            sim_label = rig.sim.label(label)
            facts = BirthFacts(
                rig.sim.gateway_of(label).gateway_id,
                int(sim_label.model.id),
                0,
                "1.0.0",
                3000,
                4096,
                2,
                0,
            )
            await record_birth(conn, label, facts, now, adopt=True)
            await bind(conn, label, sku, template=None, page=1, at=now, actor="test")
    return plan


async def _versions(db: Path, wanted: dict[str, int], within_s: float = 60) -> None:
    """Wait until the restarted controller stored the batch HQ published while it was dead."""
    async with open_database(db) as conn:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            async with conn.execute("SELECT sku, version FROM items") as cursor:
                stored = {row[0]: row[1] for row in await cursor.fetchall()}
            if all(stored.get(sku) == version for sku, version in wanted.items()):
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the batch published while the controller was dead was not stored")


class ShelfWatch:
    """Everything each label displayed, in order, sampled every few milliseconds."""

    def __init__(self, rig: Store) -> None:
        self.rig = rig
        self.seen: dict[str, list[tuple[int, bytes]]] = defaultdict(list)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.005)

    def sample(self) -> None:
        for label in self.rig.sim.labels():
            shown = (label.revision, label.displayed_hash)
            history = self.seen[label.device_id]
            if not history or history[-1] != shown:
                history.append(shown)


def _store(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> contextlib.AbstractAsyncContextManager[Store]:
    """LABELS instant labels behind 10 access points, no controller (the test starts serve)."""
    return store_with_labels(
        broker,
        store_id,
        tmp_path,
        labels=LABELS,
        models=(),
        behaviour=Behaviour.instant(),
        access_points=10,
        with_controller=False,
    )


async def _start_reprice(rig: Store, first: dict[str, bytes]) -> Callable[[], int]:
    """HQ reprices every item; returns once a twentieth of the labels show it, with the count
    of labels that do."""
    changes = [
        {"op": "upsert", "item": item(f"SKU-{n:03d}", f"{20 + n}.50", version=2)}
        for n in range(ITEMS)
    ]
    await rig.publish("batch", {"batch_id": "reprice-1", "changes": changes})

    def repriced() -> int:
        return sum(1 for lb in rig.sim.labels() if lb.displayed_hash != first[lb.device_id])

    for _ in range(30_000):  # at most a minute, polling the simulated shelf
        if repriced() >= LABELS // 20:
            break
        await asyncio.sleep(0.002)
    return repriced


async def _fresh_and_never_back(
    rig: Store, store_id: str, watch: ShelfWatch, first: dict[str, bytes]
) -> None:
    """Every label shows what its item says now, and none ever showed an older image."""
    async with open_database(rig.db) as conn:
        now = datetime.now(UTC)
        for label in rig.sim.labels():
            expected = await fresh_planes(conn, store_id, label.device_id, now)
            assert label.planes() == expected, label.device_id
    for device_id, history in watch.seen.items():
        revisions = [revision for revision, _ in history]
        assert revisions == sorted(revisions), (device_id, revisions)
        hashes = [content for _, content in history]
        if first[device_id] in hashes[1:]:
            pytest.fail(f"{device_id} showed its pre-reprice image again: {history}")


async def test_sigkill_mid_batch_then_restart_converges_without_loss_or_regression(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """Killed mid-reprice, restarted: every label converges to the latest prices (including a
    batch published while it was dead), and no label ever went back to older content."""
    log = tmp_path / "controller.log"
    async with _store(broker, store_id, tmp_path) as rig:
        await _prepare(rig)
        serve = start_serve(broker, store_id, rig.db, log, workers=2)
        try:
            t0 = time.monotonic()
            await converged(rig, within_s=120)
            print(f"initial convergence {time.monotonic() - t0:.1f} s")
            first = {label.device_id: label.displayed_hash for label in rig.sim.labels()}
            assert NO_HASH not in first.values()
            watch = ShelfWatch(rig)
            async with running(watch.run()):
                repriced = await _start_reprice(rig, first)
                serve.kill()
                at_kill = repriced()
                assert LABELS // 20 <= at_kill < LABELS, f"killed with {at_kill} labels repriced"

                # While it is dead, HQ reprices half the items again.
                again = [
                    {"op": "upsert", "item": item(f"SKU-{n:03d}", f"{30 + n}.90", version=3)}
                    for n in range(0, ITEMS, 2)
                ]
                await rig.publish("batch", {"batch_id": "reprice-2", "changes": again})
                await asyncio.sleep(0.5)
                serve = start_serve(broker, store_id, rig.db, log, workers=2)
                await _versions(rig.db, {f"SKU-{n:03d}": 3 for n in range(0, ITEMS, 2)})
                t0 = time.monotonic()
                await converged(rig, within_s=120)
                print(f"after restart {time.monotonic() - t0:.1f} s; killed at {at_kill}")
                watch.sample()
        finally:
            serve.kill()
        await _fresh_and_never_back(rig, store_id, watch, first)


def _device_link(serve_pid: int) -> RunningProcess | None:
    links = [p for p in descendants(serve_pid) if WORKER in p.command]
    assert len(links) <= 1, links
    return links[0] if links else None


async def test_the_device_link_killed_mid_reprice_is_replaced_and_the_store_converges(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """The controller's device link process (its MQTT session) SIGKILLed in the middle of a
    reprice: the controller runs on, starts another, and every label converges to the new
    prices without ever going back."""
    async with _store(broker, store_id, tmp_path) as rig:
        await _prepare(rig)
        serve = start_serve(broker, store_id, rig.db, tmp_path / "controller.log", workers=2)
        try:
            await converged(rig, within_s=120)
            first = {label.device_id: label.displayed_hash for label in rig.sim.labels()}
            link = _device_link(serve.pid)
            assert link is not None
            watch = ShelfWatch(rig)
            async with running(watch.run()):
                repriced = await _start_reprice(rig, first)
                os.kill(link.pid, signal.SIGKILL)
                at_kill = repriced()
                assert at_kill < LABELS, "the reprice was over before the link was killed"
                await converged(rig, within_s=120)
                watch.sample()
            assert serve.process.poll() is None, serve.output()
            replacement = _device_link(serve.pid)
            assert replacement is not None
            assert replacement.pid != link.pid
            assert "device link process ended" in serve.output()
        finally:
            serve.kill()
        await _fresh_and_never_back(rig, store_id, watch, first)
