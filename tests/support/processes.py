"""The processes a test run started, read from /proc: what is still running, who started it.

Processes are found two ways, because each misses some: as descendants of a pid (a killed
controller's render workers are re-parented to init and stop being anyone's descendants), and by
a marker in their environment that every process started by this run inherits
(`RUN_MARKER_VAR`; a child started with an explicit, empty environment does not carry it).

Used by tests/conftest.py at the end of every pytest run and by scripts/check-no-leftovers after
the benchmarks, and by the tests that kill a controller on purpose.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RUN_MARKER_VAR = "OMNISHELF_RUN_MARKER"
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class RunningProcess:
    pid: int
    ppid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} (parent {self.ppid}): {self.command}"


def _read(pid: int, name: str) -> bytes | None:
    try:
        return (PROC / str(pid) / name).read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None  # gone meanwhile, or not ours to read


def _process(pid: int) -> RunningProcess | None:
    stat = _read(pid, "stat")
    if stat is None:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie has ended; only its parent's wait() is missing
        return None
    cmdline = _read(pid, "cmdline") or b""
    command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return RunningProcess(pid, int(fields[1]), command or f"[{stat.split()[1].decode()}]")


def running_processes() -> list[RunningProcess]:
    """Every live process this user may see."""
    pids = [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]
    return [process for pid in pids if (process := _process(pid)) is not None]


def descendants(pid: int) -> list[RunningProcess]:
    """The live processes below `pid` (children, their children, ...)."""
    everyone = running_processes()
    below: list[RunningProcess] = []
    parents = {pid}
    while True:
        more = [p for p in everyone if p.ppid in parents and p not in below]
        if not more:
            return below
        below.extend(more)
        parents = {p.pid for p in more}


def marked(marker: str) -> list[RunningProcess]:
    """Live processes (other than this one) whose environment carries RUN_MARKER_VAR=marker."""
    needle = f"{RUN_MARKER_VAR}={marker}".encode()
    own = os.getpid()
    found = []
    for process in running_processes():
        environ = _read(process.pid, "environ")
        if process.pid != own and environ is not None and needle in environ.split(b"\0"):
            found.append(process)
    return found


def still_running(processes: Iterable[RunningProcess]) -> list[RunningProcess]:
    """Those of `processes` that are still alive (the same pid with the same command)."""
    alive = []
    for process in processes:
        now = _process(process.pid)
        if now is not None and now.command == process.command:
            alive.append(now)
    return alive


def wait_until_gone(processes: Iterable[RunningProcess], within_s: float) -> list[RunningProcess]:
    """Wait up to `within_s` for `processes` to end; returns those still running."""
    waiting = list(processes)
    deadline = time.monotonic() + within_s
    while (waiting := still_running(waiting)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return waiting


def kill(processes: Iterable[RunningProcess]) -> None:
    """SIGKILL each of `processes` (by pid) that is still running."""
    for process in still_running(processes):
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


# multiprocessing's forkserver and resource tracker serve the process that started them for its
# whole life and end with it (each waits for EOF on a pipe that process holds), so the pytest
# process's own pair is no leftover; the forkserver's children (render workers) still are.
_HELPERS = (
    "from multiprocessing.forkserver import main",
    "from multiprocessing.resource_tracker import main",
)


def multiprocessing_helpers(pid: int) -> list[RunningProcess]:
    """The forkserver and resource tracker that process `pid` started itself."""
    return [
        p for p in running_processes() if p.ppid == pid and any(h in p.command for h in _HELPERS)
    ]
