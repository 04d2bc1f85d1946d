"""`omnishelf serve` as a separate process, as a supervisor runs it, for the tests that kill it,
fill its disk or start a second one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from controller.local_broker import LocalBroker
from controller.state.database import open_database
from controller.state.labels_repo import label_state
from tests.support.store_kit import Store

RUNNING = "running; Ctrl-C stops"  # serve_cli's log line once both MQTT sessions are up


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def running(self, within_s: float = 60.0) -> None:
        """Until the controller says it runs; fails if the process ends first."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if RUNNING in self.output():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}:\n{self.output()}")
            await asyncio.sleep(0.1)
        raise AssertionError(f"serve not running after {within_s} s:\n{self.output()}")

    async def exited(self, within_s: float = 60.0) -> int:
        """The exit status, waiting for it (an AssertionError if it is still running)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if (status := self.process.poll()) is not None:
                return status
            await asyncio.sleep(0.1)
        raise AssertionError(f"serve still running after {within_s} s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def start_serve(
    broker: LocalBroker,
    store: str,
    db: Path,
    log: Path,
    *,
    api_port: int | None = None,
    workers: int = 1,
    **settings: str,
) -> ServeProcess:
    """`omnishelf serve` (with the API on `api_port`, else --no-api) for `store` on `db`;
    `settings` are more OMNISHELF_* variables (lower-case names, without the prefix)."""
    broker.add_store(store)
    env = {
        **os.environ,
        "COLUMNS": "250",  # one log record per line
        "OMNISHELF_STORE_ID": store,
        "OMNISHELF_BROKER_URL": broker.url,
        "OMNISHELF_STORE_SECRET": broker.store_secret,
        "OMNISHELF_STATE_DB": str(db),
        "OMNISHELF_ADOPT": '["lbl-*"]',
        "OMNISHELF_ADOPT_ACCESS_POINTS": '["ap-*"]',
        "OMNISHELF_RENDER_WORKERS": str(workers),
        "OMNISHELF_PUBLIC_URL": "https://shop.example",
        "OMNISHELF_HTTP_PORT": str(api_port or 0),
    }
    env |= {f"OMNISHELF_{name.upper()}": value for name, value in settings.items()}
    omnishelf = Path(sys.executable).parent / "omnishelf"
    args = [str(omnishelf), "serve"] + ([] if api_port else ["--no-api"])
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            args, env=env, cwd=db.parent, stdout=out, stderr=subprocess.STDOUT
        )
    return ServeProcess(process, log)


async def converged(rig: Store, within_s: float) -> None:
    """Every label shows the image the database wants it to show, nothing left to do."""
    deadline = time.monotonic() + within_s
    behind, pending = -1, -1
    async with open_database(rig.db) as conn:
        while time.monotonic() < deadline:
            behind = 0
            for label in rig.labels:
                state = await label_state(conn, label)
                shown = rig.sim.label(label).displayed_hash
                if state is None or state.desired_hash is None or state.desired_hash != shown:
                    behind += 1
            async with conn.execute(
                "SELECT (SELECT COUNT(*) FROM render_queue) + (SELECT COUNT(*) FROM outbox)"
            ) as cursor:
                row = await cursor.fetchone()
            pending = row[0] if row else 0
            if behind == 0 and pending == 0:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{behind} labels behind, {pending} pending after {within_s} s")
