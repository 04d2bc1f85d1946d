"""One process owns a state database: a second controller or demo on it refuses to start.

Two controllers on one database would both push images and both acknowledge catalog changes;
a second demo removed the first one's database and tokens while the first kept running on the
deleted file. So `owning_state(db)` takes an exclusive flock(2) on `<db>.lock` (0600, next to the
database) for as long as the block runs. The kernel drops the lock with the process, so a
controller killed with SIGKILL leaves no stale lock to clean up; the file itself stays (removing
a lock file races with the next process opening it).

Short-lived tools (`omnishelf import`, `omnishelf token`) write through SQLite's own locking while
a controller runs, by design, and take no ownership.

flock belongs to an open file, not to a process: the same process locking the file through a
second descriptor would refuse itself. The demo owns its database before it writes it and then
starts a controller on it, so ownership is counted per process (`_held`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from controller.errors import ControllerError

LOCK_SUFFIX = ".lock"


class StateInUse(ControllerError):
    """Another process owns this state database."""

    def __init__(self, db: Path, holder: str) -> None:
        super().__init__(
            f"the state database {db} is in use by another omnishelf process ({holder}); "
            "stop that one first, or give this one its own database"
        )
        self.db = db
        self.holder = holder


_held: set[Path] = set()  # lock files this process holds (see the docstring)


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + LOCK_SUFFIX)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if text:
            return text
    return "pid unknown"


@contextlib.contextmanager
def owning_state(db: Path) -> Iterator[Path]:
    """Own `db` until the block ends; StateInUse if another process owns it."""
    path = lock_path(db.resolve())
    if path in _held:  # owned already, by an enclosing block of this process
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StateInUse(db, _holder(fd)) from exc
        os.fchmod(fd, 0o600)  # a lock file from an older version may be looser
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)}\n".encode(), 0)
        _held.add(path)
        try:
            yield path
        finally:
            _held.discard(path)
    finally:
        os.close(fd)  # also releases the lock
