"""The bench's CPU accounting: threads told apart by their stacks, per-phase differences, the
ceiling and scale tables, and the py-spy profile summary."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from bench import cpu
from bench.ceiling import cpu_section, scale_section
from bench.harness import children
from bench.pipeline import StoreRun
from bench.profile_report import read_profile, report
from bench.store_rig import StoreShape

# A process shaped like the controller: an asyncio loop in the main thread, two aiosqlite
# connections (two threads), and one more thread burning CPU.
CHILD = textwrap.dedent(
    """
    import asyncio, threading, time, aiosqlite

    def spin():
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass

    async def main():
        async with aiosqlite.connect(":memory:") as a, aiosqlite.connect(":memory:") as b:
            threading.Thread(target=spin, name="spinner").start()
            print("ready", flush=True)
            await asyncio.sleep(30)

    asyncio.run(main())
    """
)


@pytest.fixture
def controller_like():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        yield child.pid
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_threads_are_told_apart_by_their_stacks(controller_like: int) -> None:
    """py-spy's dump finds the two aiosqlite threads; the main thread is the event loop."""
    kinds = cpu.thread_kinds(controller_like)
    database = [tid for tid, kind in kinds.kinds.items() if kind == cpu.DATABASE]
    assert len(database) == 2
    assert kinds.kind(controller_like, controller_like) == cpu.EVENT_LOOP
    assert controller_like not in database


def test_a_phase_counts_each_thread_kind(controller_like: int) -> None:
    """The spinning thread's CPU lands in "other", and the parts add up to the process."""
    parties = cpu.Parties(controller_like, None, None)
    before = cpu.snapshot(parties, time.perf_counter(), kinds=cpu.ThreadKinds())
    time.sleep(0.6)
    after = cpu.snapshot(parties, time.perf_counter())
    used = cpu.used("reprice", 100, before, after)
    assert used.database_threads == 2
    assert used.other_threads_s >= 0.1
    total = used.loop_s + used.database_s + used.other_threads_s
    assert total == pytest.approx(used.controller_s, abs=0.02)
    assert used.ceiling_labels_per_s == pytest.approx(100 / used.controller_s)


# A process with two children that burn CPU: one a render worker, the other with the device
# link's module on its command line.
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time

    spin = (
        "import sys, time\\nend = time.process_time() + float(sys.argv[1])\\n"
        "while time.process_time() < end: pass\\ntime.sleep(30)"
    )
    worker = subprocess.Popen([sys.executable, "-c", spin, "0.2"])
    link = subprocess.Popen([sys.executable, "-c", spin, "0.5", "controller.device_link.worker"])
    print("ready", flush=True)
    time.sleep(30)
    """
)


def test_the_device_link_process_is_counted_apart_from_the_render_workers() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "ready"
        parties = cpu.Parties(parent.pid, None, None)
        before = cpu.snapshot(parties, time.perf_counter(), kinds=cpu.ThreadKinds())
        assert len(before.link) == 1
        assert len(before.workers) == 1
        time.sleep(1.5)
        after = cpu.snapshot(parties, time.perf_counter(), kinds=cpu.ThreadKinds())
    finally:
        for child in children(parent.pid):
            subprocess.run(["kill", "-9", str(child)], check=False)
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    used = cpu.used("reprice", 100, before, after)
    assert used.workers == 1
    # Each spun its share after the first snapshot at the latest: the link spins longer.
    assert used.link_s > used.workers_s
    assert used.link_s + used.workers_s <= 0.7 + 0.05


def test_the_ceiling_is_set_by_the_busier_of_the_controllers_processes() -> None:
    assert _phase("reprice", 1000, 2.0, link_s=0.5).ceiling_labels_per_s == 500
    assert _phase("reprice", 1000, 0.5, link_s=2.0).ceiling_labels_per_s == 500
    assert _phase("reprice", 1000, 2.0, link_s=0.5).link_ms_per_label == 0.5


def _phase(name: str, labels: int, controller_s: float, *, link_s: float = 0.0) -> cpu.PhaseCpu:
    return cpu.PhaseCpu(
        phase=name,
        labels=labels,
        wall_s=10.0,
        controller_s=controller_s,
        loop_s=controller_s * 0.7,
        database_s=controller_s * 0.25,
        other_threads_s=controller_s * 0.05,
        database_threads=2,
        link_s=link_s,
        workers_s=8.0,
        workers=4,
        simulator_s=2.0,
        broker_s=0.5,
        bench_s=0.5,
    )


def _run(labels: int, ms_per_label: float) -> StoreRun:
    run = StoreRun(StoreShape(labels, render_workers=2))
    run.first_convergence_s = labels / 100
    run.reprice = {"seconds": labels / 250, "labels_per_s": 250.0, "controller_peak_rss_mb": 140.0}
    run.memory = {"controller_rss_mb": 120.0}
    run.cpu_phases = [
        _phase("first convergence", labels, labels * 4 / 1000),
        _phase("reprice", labels, labels * ms_per_label / 1000),
    ]
    return run


def test_the_cpu_section_shows_each_party_and_the_ceiling() -> None:
    """Ten parties per phase; the notes give labels / controller CPU s."""
    section = cpu_section(_run(5000, 1.4))
    assert len(section.rows) == 20
    reprice = [r for r in section.rows if r["phase"] == "reprice"]
    assert reprice[3]["party"] == "controller process"
    assert reprice[3]["cpu_s"] == 7.0
    assert reprice[3]["cores"] == 0.7
    assert any("reprice: controller ceiling 714 labels/s" in note for note in section.notes)


def test_the_scale_curve_says_how_flat_cpu_per_label_is() -> None:
    """A row per size, smallest first, and the spread of the reprice's CPU per label."""
    section = scale_section([_run(5000, 1.5), _run(1000, 1.2)])
    assert [r["labels"] for r in section.rows] == [1000, 5000]
    assert section.rows[0]["reprice_controller_ms_per_label"] == 1.2
    assert section.rows[1]["reprice_ceiling_labels_per_s"] == 667
    assert "varies by 25% from 1,000 to 5,000 labels" in section.notes[0]


def test_the_profile_summary_splits_threads_and_leaves_out_the_selector_wait() -> None:
    """Own and cumulative time of the loop's busy samples; database threads apart."""
    entry = "thread (1): MainThread;<module> (omnishelf:10);Handle._run (asyncio/events.py:80)"
    raw = "\n".join(
        [
            f"{entry};run_round (controller/pipeline/push_stage.py:9);offer (x/transfers.py:3) 6",
            f"{entry};run_round (controller/pipeline/push_stage.py:9) 2",
            "thread (1): MainThread;run (asyncio/base_events.py:1);select (selectors.py:4) 5",
            "thread (1): MainThread;run (a.py:1);EpollSelector.select (selectors.py:469) 7",
            "thread (2): Thread-1;run (threading.py:1);_connection_worker_thread"
            " (aiosqlite/core.py:90) 4",
            "thread (3): Thread-2;run (threading.py:1);worker (concurrent/thread.py:1) 1",
        ]
    )
    profile = read_profile(raw)
    assert profile.samples == {cpu.EVENT_LOOP: 20, cpu.DATABASE: 4, cpu.OTHER: 1}
    assert profile.loop_idle == 7
    assert profile.loop_samples == 13
    assert profile.own["offer (x/transfers.py)"] == 6
    assert profile.cumulative["run_round (pipeline/push_stage.py)"] == 8
    assert "<module> (omnishelf)" not in profile.cumulative  # below the loop's dispatch
    text = report(profile, 5)
    assert "61.5%  run_round (pipeline/push_stage.py)" in text
