"""`omnishelf broker` owns its Mosquitto: stopping the command stops the broker (issue 12,
finding 8)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.local_broker import free_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _broker_command(tmp_path: Path, port: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`omnishelf broker` running, and its Mosquitto's pid (as the command prints it); the
    command is killed at the end if it still runs."""
    omnishelf = Path(sys.executable).parent / "omnishelf"
    command = [
        str(omnishelf),
        "broker",
        "--labels=1",
        f"--port={port}",
        f"--workdir={tmp_path / 'broker'}",
        f"--secret-file={tmp_path / 'secret'}",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        pid = None
        for line in process.stderr:
            if found := re.search(r"mosquitto \(pid (\d+)\)", line):
                pid = int(found[1])
                break
        assert pid is not None, "the command never said it was running"
        yield process, pid
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_finding_8_stopping_the_command_stops_its_mosquitto(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """SIGTERM, or even SIGKILL, to `omnishelf broker` ends its Mosquitto and frees the port."""
    port = free_port()
    with _broker_command(tmp_path, port) as (process, pid):
        assert _alive(pid)
        assert _listening(port)
        process.send_signal(stop)
        assert process.wait(timeout=10) == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
    deadline = time.monotonic() + 10  # after a SIGKILL, Mosquitto gets its SIGTERM and stops
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert not _listening(port)


def test_the_command_exits_when_its_mosquitto_dies(tmp_path: Path) -> None:
    """`omnishelf broker` whose Mosquitto is killed exits 3 (a supervisor restarts it), instead
    of waiting for Ctrl-C with no broker under it."""
    with _broker_command(tmp_path, free_port()) as (process, pid):
        os.kill(pid, signal.SIGKILL)
        assert process.wait(timeout=15) == 3
