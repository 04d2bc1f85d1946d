"""Where the CPU went during a phase of a store run: per process and, in the controller, per thread.

Issue 14 asks whether the controller is the ceiling. Wall time on a shared machine is noisy;
CPU seconds are not (much), so each phase takes two snapshots and reports the difference:

- the controller process, split by thread: its event loop (the main thread: `omnishelf serve`
  runs asyncio there), its database threads (one per aiosqlite connection) and the rest
  (asyncio's default executor, the render pool's handler threads, threads that ended);
- its device link process (controller/device_link/: the device session's MQTT work);
- its render worker processes (the sum over its other children);
- the simulator process, Mosquitto, and this process (HQ and the report watch).

Threads are told apart by their Python stacks, read once per snapshot with `py-spy dump`:
CPython 3.11 gives OS threads no names (every /proc/<pid>/task/<tid>/comm is the program's),
and the controller's threads are created by libraries. A thread whose stack runs aiosqlite's
connection loop is a database thread. Without py-spy every thread but the main one counts as
"other".

The controller's ceiling is labels / the CPU s of the busier of its two processes (the controller
and its device link): the labels a second it could move if each had a core to itself, whatever
the other processes on the machine take. Both processes' CPU per label is shown too, so that
moving work from one to the other is never mistaken for removing it.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.harness import children

DATABASE = "database"
EVENT_LOOP = "event loop"
OTHER = "other"
LINK_WORKER = "controller.device_link.worker"  # its module, on its command line
_THREAD = re.compile(r'^Thread (0x[0-9A-Fa-f]+|\d+) \([^)]*\)(?:: "(?P<name>[^"]*)")?')


@dataclass
class ThreadKinds:
    """tid -> kind ("database", "other") for the threads py-spy saw; the main thread is the loop."""

    kinds: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def kind(self, pid: int, tid: int) -> str:
        if tid == pid:
            return EVENT_LOOP
        return self.kinds.get(tid, OTHER)


def classify_threads(dump: str) -> ThreadKinds:
    """The kinds of threads in a `py-spy dump` (native thread ids, as py-spy prints on Linux)."""
    found = ThreadKinds()
    tid: int | None = None
    for line in dump.splitlines():
        matched = _THREAD.match(line)
        if matched is not None:
            raw = matched.group(1)
            tid = int(raw, 16) if raw.startswith("0x") else int(raw)
            found.kinds[tid] = OTHER
            found.names[tid] = matched["name"] or ""
        elif tid is not None and "aiosqlite" in line:
            found.kinds[tid] = DATABASE
    return found


def thread_kinds(pid: int) -> ThreadKinds:
    """Ask py-spy which of the process's threads are which (empty when py-spy is missing)."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        return ThreadKinds()
    try:
        out = subprocess.run(
            [str(py_spy), "dump", "--pid", str(pid), "--nonblocking"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ThreadKinds()
    return classify_threads(out)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass
class Snapshot:
    """CPU seconds so far: per process name, and per controller thread id."""

    at: float  # wall clock (perf_counter)
    controller_pid: int
    processes: dict[str, float]
    workers: dict[int, float]  # render worker pid -> its CPU s
    link: dict[int, float]  # the device link process's pid -> its CPU s (one, or none)
    threads: dict[int, float]  # controller tid -> its CPU s
    kinds: ThreadKinds


@dataclass(frozen=True)
class Parties:
    controller: int
    simulator: int | None
    broker: int | None


def snapshot(parties: Parties, at: float, *, kinds: ThreadKinds | None = None) -> Snapshot:
    controller = psutil.Process(parties.controller)
    processes = {"controller": _cpu(controller), "bench": _cpu(psutil.Process(os.getpid()))}
    for name, pid in (("simulator", parties.simulator), ("mosquitto", parties.broker)):
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                processes[name] = _cpu(psutil.Process(pid))
    workers: dict[int, float] = {}
    link: dict[int, float] = {}
    for child in children(parties.controller):
        with contextlib.suppress(psutil.Error):  # ended meanwhile
            process = psutil.Process(child)
            is_link = LINK_WORKER in process.cmdline()
            (link if is_link else workers)[child] = _cpu(process)
    threads = {t.id: t.user_time + t.system_time for t in controller.threads()}
    if kinds is None:
        kinds = thread_kinds(parties.controller)
    return Snapshot(at, parties.controller, processes, workers, link, threads, kinds)


@dataclass(frozen=True)
class PhaseCpu:
    """CPU seconds used between two snapshots."""

    phase: str
    labels: int
    wall_s: float
    controller_s: float
    loop_s: float
    database_s: float
    other_threads_s: float
    database_threads: int
    link_s: float  # the device link process (0 when the controller runs its session itself)
    workers_s: float
    workers: int
    simulator_s: float
    broker_s: float
    bench_s: float

    @property
    def ceiling_labels_per_s(self) -> float:
        """Labels / CPU s of the busier of the controller's two processes."""
        busiest = max(self.controller_s, self.link_s)
        return self.labels / busiest if busiest > 0 else float("nan")

    @property
    def controller_ms_per_label(self) -> float:
        return self.controller_s * 1000 / self.labels if self.labels else float("nan")

    @property
    def link_ms_per_label(self) -> float:
        return self.link_s * 1000 / self.labels if self.labels else float("nan")

    def parts(self) -> list[tuple[str, float]]:
        return [
            ("controller: event loop thread", self.loop_s),
            (f"controller: database threads ({self.database_threads})", self.database_s),
            ("controller: other threads", self.other_threads_s),
            ("controller process", self.controller_s),
            ("device link process", self.link_s),
            ("controller + device link", self.controller_s + self.link_s),
            (f"render workers + forkserver ({self.workers} processes)", self.workers_s),
            ("simulator process", self.simulator_s),
            ("mosquitto", self.broker_s),
            ("bench process (HQ, watch)", self.bench_s),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "labels": self.labels,
            "wall_s": round(self.wall_s, 2),
            "controller_cpu_s": round(self.controller_s, 2),
            "event_loop_cpu_s": round(self.loop_s, 2),
            "database_threads_cpu_s": round(self.database_s, 2),
            "database_threads": self.database_threads,
            "other_threads_cpu_s": round(self.other_threads_s, 2),
            "device_link_cpu_s": round(self.link_s, 2),
            "device_link_ms_per_label": round(self.link_ms_per_label, 3),
            "render_workers_cpu_s": round(self.workers_s, 2),
            "render_workers": self.workers,
            "simulator_cpu_s": round(self.simulator_s, 2),
            "broker_cpu_s": round(self.broker_s, 2),
            "bench_cpu_s": round(self.bench_s, 2),
            "controller_ms_per_label": round(self.controller_ms_per_label, 3),
            "controller_ceiling_labels_per_s": round(self.ceiling_labels_per_s),
        }


def used(phase: str, labels: int, before: Snapshot, after: Snapshot) -> PhaseCpu:
    """What each party used from `before` to `after`. A thread or worker that appeared in
    between counts whole; the CPU of controller threads that ended counts as "other"."""
    kinds = after.kinds
    by_kind = {EVENT_LOOP: 0.0, DATABASE: 0.0, OTHER: 0.0}
    for tid, seconds in after.threads.items():
        by_kind[kinds.kind(after.controller_pid, tid)] += seconds - before.threads.get(tid, 0.0)
    controller = after.processes["controller"] - before.processes["controller"]
    ended = controller - sum(by_kind.values())  # threads that ended before `after`
    workers = sum(s - before.workers.get(w, 0.0) for w, s in after.workers.items())
    link = sum(s - before.link.get(p, 0.0) for p, s in after.link.items())

    def delta(name: str) -> float:
        return after.processes.get(name, 0.0) - before.processes.get(name, 0.0)

    return PhaseCpu(
        phase=phase,
        labels=labels,
        wall_s=after.at - before.at,
        controller_s=controller,
        loop_s=by_kind[EVENT_LOOP],
        database_s=by_kind[DATABASE],
        other_threads_s=by_kind[OTHER] + max(0.0, ended),
        database_threads=sum(1 for t in after.threads if kinds.kinds.get(t) == DATABASE),
        link_s=link,
        workers_s=workers,
        workers=len(after.workers),
        simulator_s=delta("simulator"),
        broker_s=delta("mosquitto"),
        bench_s=delta("bench"),
    )
