"""`omnishelf serve` as a supervisor sees it: it exits instead of staying half-alive, one process
owns a state database, and nothing it started outlives it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.local_broker import LocalBroker, free_port
from controller.pipeline.ingest import apply_changes
from controller.state.database import open_database
from controller.state.devices_repo import bind
from controller.state.fleet_repo import BirthFacts, record_birth
from tests.support.processes import descendants, kill, wait_until_gone
from tests.support.serve_process import converged, start_serve
from tests.support.store_kit import Store, item, store_with_labels

pytestmark = pytest.mark.timeout(180)
LABELS = 4
FILLER_NAME = "Ürün " + "ə" * 190  # long names fill the database quickly (the limit is 200)


async def _link_labels(rig: Store) -> list[str]:
    """One item per label, each label adopted and linked, before the controller starts."""
    now = datetime.now(UTC)
    skus = [f"SKU-{n:04d}" for n in range(LABELS)]
    async with open_database(rig.db) as conn:
        items = [Upsert(CatalogItem.model_validate(item(sku, "10.00", version=1))) for sku in skus]
        await apply_changes(conn, items, actor="test", at=now)
        for label, sku in zip(rig.labels, skus, strict=True):
            sim_label = rig.sim.label(label)
            gateway = rig.sim.gateway_of(label).gateway_id
            facts = BirthFacts(gateway, int(sim_label.model.id), 0, "1.0.0", 3000, 4096, 2, 0)
            await record_birth(conn, label, facts, now, adopt=True)
            await bind(conn, label, sku, template=None, page=1, at=now, actor="test")
    return skus


async def _stored_versions(db: Path) -> dict[str, int]:
    async with open_database(db) as conn, conn.execute("SELECT sku, version FROM items") as cur:
        return {row[0]: row[1] for row in await cur.fetchall()}


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _fill_then_restart(
    rig: Store,
    tmp_path: Path,
    *,
    api: bool,
    make_room: Callable[[], None],
    **settings: str,
) -> None:
    """HQ reprices until the controller's storage is full: serve must exit 3 saying why; then
    `make_room`, restart, and every published change is stored and every label converges."""
    skus = await _link_labels(rig)
    port = free_port() if api else None
    full = start_serve(
        rig.broker, rig.store, rig.db, tmp_path / "serve.log", api_port=port, **settings
    )
    published: dict[str, int] = {}
    try:
        await full.running()
        for version in range(2, 40):  # each batch ~450 KB stored: full within a few
            changes = [
                {"op": "upsert", "item": item(sku, f"{version}.50", version=version)}
                for sku in skus
            ] + [
                {
                    "op": "upsert",
                    "item": item(f"FILL-{n:04d}", "1.00", version=version, name=FILLER_NAME),
                }
                for n in range(400)
            ]
            await rig.publish("batch", {"batch_id": f"fill-{version}", "changes": changes})
            published |= {c["item"]["sku"]: version for c in changes}
            if full.process.poll() is not None:
                break
            await asyncio.sleep(0.3)
        status = await full.exited()
    finally:
        full.kill()
    output = full.output()
    assert status == 3, output[-3000:]
    assert "database or disk is full" in output
    assert "exiting with status 3 so that a supervisor restarts it" in output
    if port is not None:
        assert not _listening(port)

    make_room()
    stored = await _stored_versions(rig.db)
    assert any(stored.get(sku) != version for sku, version in published.items())
    restarted = start_serve(rig.broker, rig.store, rig.db, tmp_path / "restart.log")
    try:
        await restarted.running()
        deadline = time.monotonic() + 60
        while (stored := await _stored_versions(rig.db)) and time.monotonic() < deadline:
            if all(stored.get(sku) == version for sku, version in published.items()):
                break
            await asyncio.sleep(0.2)
        lost = {sku for sku, version in published.items() if stored.get(sku) != version}
        assert not lost, f"{len(lost)} published changes not stored, e.g. {sorted(lost)[:3]}"
        await converged(rig, within_s=60)
        restarted.process.send_signal(signal.SIGTERM)
        assert await restarted.exited() == 0
    finally:
        restarted.kill()


@contextlib.asynccontextmanager
async def _rig(broker: LocalBroker, store_id: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_with_labels(
        broker,
        store_id,
        tmp_path,
        labels=LABELS,
        models=(),
        access_points=1,
        with_controller=False,
    ) as rig:
        yield rig


@pytest.mark.parametrize("api", [False, True], ids=["no-api", "api"])
async def test_finding_9_a_full_database_stops_serve_and_a_restart_loses_nothing(
    broker: LocalBroker, store_id: str, tmp_path: Path, api: bool
) -> None:
    """A full database (OMNISHELF_STATE_DB_MAX_MB: SQLite's max_page_count, the same error as
    a full disk, deterministic) makes serve exit 3 with the reason, API or not (it used to stay
    up answering 500); restarted with room, every change HQ published is stored at its latest
    version and every label converges."""
    async with _rig(broker, store_id, tmp_path) as rig:
        await _fill_then_restart(
            rig, tmp_path, api=api, make_room=lambda: None, state_db_max_mb="1"
        )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of its own (mounting needs root: elsewhere the cap above stands in)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the database cap test covers the rest")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


async def test_finding_9_a_full_disk_stops_serve_and_a_restart_after_freeing_space_loses_nothing(
    broker: LocalBroker, store_id: str, tmp_path: Path, small_disk: Path
) -> None:
    """The same on a real full filesystem (a 2 MB tmpfs): exit 3; the disk grown to 64 MB
    (space freed), the restarted controller stores everything and converges."""

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)

    async with _rig(broker, store_id, tmp_path) as rig:
        rig.db = small_disk / "state.db"
        await _fill_then_restart(rig, tmp_path, api=False, make_room=grow)


async def test_finding_8_a_second_serve_on_the_same_database_refuses(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """A second controller on a state database another one runs on exits 2, naming the pid
    that owns it; the first keeps running on the same file."""
    db = tmp_path / "state.db"
    first = start_serve(broker, store_id, db, tmp_path / "first.log")
    try:
        await first.running()
        inode = db.stat().st_ino
        second = start_serve(broker, store_id, db, tmp_path / "second.log")
        try:
            assert await second.exited(within_s=30) == 2, second.output()
        finally:
            second.kill()
        assert "is in use by another omnishelf process" in second.output()
        assert f"pid {first.pid}" in second.output()
        assert first.process.poll() is None
        assert db.stat().st_ino == inode
    finally:
        first.kill()


async def test_finding_8_a_demo_on_a_state_directory_in_use_refuses(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """`omnishelf demo` on a work dir whose state another process runs on refuses before it
    touches anything (a second demo used to recreate the first one's database and tokens)."""
    db = tmp_path / "state.db"
    first = start_serve(broker, store_id, db, tmp_path / "first.log")
    try:
        await first.running()
        inode = db.stat().st_ino
        omnishelf = Path(sys.executable).parent / "omnishelf"
        demo = await asyncio.create_subprocess_exec(
            *[str(omnishelf), "demo", "--port", "0", "--labels", "1", "--workdir", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
        )
        try:
            out, _ = await asyncio.wait_for(demo.communicate(), 60)
        finally:
            if demo.returncode is None:
                demo.kill()
                await demo.wait()
        assert demo.returncode == 2, out.decode()
        assert f"another demo (or controller) is running on {tmp_path}" in out.decode()
        assert first.process.poll() is None
        assert db.stat().st_ino == inode
        assert not (tmp_path / "tokens.json").exists()
    finally:
        first.kill()


async def test_finding_8_a_sigkilled_serve_leaves_no_process_behind(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """`omnishelf serve` with two render processes, killed with SIGKILL: its forkserver,
    workers, resource tracker and device link process end too (they used to run on, ~100 MB
    each)."""
    serve = start_serve(broker, store_id, tmp_path / "state.db", tmp_path / "s.log", workers=2)
    started = []
    try:
        await serve.running()
        started = descendants(serve.pid)
        # forkserver, 2 workers, resource tracker, the device link
        assert len(started) == 5, started
        assert sum("controller.device_link.worker" in p.command for p in started) == 1
        serve.process.send_signal(signal.SIGKILL)
        serve.process.wait()
        left = await asyncio.to_thread(wait_until_gone, started, 10)
        assert left == [], f"still running after serve was killed: {left}"
    finally:
        serve.kill()
        kill(started)
