"""The render pool ends with the process that opened it, even when that one is SIGKILLed."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.support.processes import descendants, kill, wait_until_gone

OWNER = """
import sys, time
from label_renderer.batch import BatchRenderer

if __name__ == "__main__":
    with BatchRenderer(workers=2):
        print("ready", flush=True)
        time.sleep(300)
"""


def test_finding_8_render_pool_dies_with_its_sigkilled_owner() -> None:
    """Forkserver, workers and resource tracker all end within seconds of their owner's
    SIGKILL (they used to run on for good: 4 processes per pool, ~100 MB each)."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE)
    pool = []
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline() == b"ready\n"
        pool = descendants(owner.pid)
        commands = " ".join(p.command for p in pool)
        assert "forkserver" in commands, pool
        assert "resource_tracker" in commands, pool
        assert len(pool) == 4, pool  # forkserver, 2 workers, resource tracker
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        left = wait_until_gone(pool, within_s=10)
        assert left == [], f"still running after their owner was killed: {left}"
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
        kill(pool)
