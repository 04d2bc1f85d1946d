"""Session counters that never go down, not even across simulator restarts (PROTOCOL.md §4.6).

A real device keeps its counter in flash and persists it before every CONNECT; a simulator that
started every counter at 1 again would be born with sessions below its own retained Deaths, and
a restarted controller would then list the whole store offline. The simulator keeps its counters
in one small JSON file per store (`sessions-{store}.json` under `--state-dir`), written
atomically (a temporary file, fsync, rename).

Writing on every session would mean one write per label per reconnect. Instead counters are
reserved in blocks, the way databases hand out sequence numbers: the file holds, per device, a
number no session has gone beyond; a session that would pass it reserves the next BLOCK first.
A restart starts above the reserved number, so sessions keep growing (gaps are allowed: only
"never down" matters). Without a file (tests, benchmarks, the demo on a fresh broker) counters
live in memory and start at 0.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from device_sim.errors import SimulatorError

BLOCK = 64
FORMAT = 1


class SessionCounters:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._reserved: dict[str, int] = {}
        self.writes = 0
        if path is not None and path.exists():
            self._reserved = _read(path)

    @classmethod
    def for_store(cls, state_dir: Path, store: str) -> SessionCounters:
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir / f"sessions-{store}.json")

    def start(self, keys: list[str]) -> dict[str, int]:
        """The session each device continues from (above all it may have used before), with a
        block reserved for all of them in one write."""
        first = {key: self._reserved.get(key, 0) for key in keys}
        for key, base in first.items():
            self._reserved[key] = base + BLOCK
        self._save()
        return first

    def ensure(self, key: str, session: int) -> None:
        """Make `session` of `key` safe to use: persisted before it is announced."""
        if session > self._reserved.get(key, 0):
            self._reserved[key] = session + BLOCK
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        body = json.dumps({"format": FORMAT, "reserved": self._reserved}, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.writes += 1


def _read(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        reserved = data["reserved"]
        return {str(key): int(value) for key, value in reserved.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # A counter file we cannot trust must not silently restart every session at 1.
        raise SimulatorError(f"cannot read the session counters in {path}: {exc}") from exc
