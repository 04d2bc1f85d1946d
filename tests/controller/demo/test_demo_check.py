"""`make demo`'s promise, checked as a user would see it: scripts/check-demo starts the demo with
1,000 labels on the real Mosquitto, reaches a working console with every label confirmed, and
stops cleanly on Ctrl-C (SIGINT to its process group)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_demo_reaches_a_working_console_and_stops_cleanly() -> None:
    """check-demo exits 0: console up, 1,000 labels confirmed, clean stop on SIGINT."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "check-demo"),
            "--labels",
            "1000",
            "--timeout",
            "75",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped cleanly" in result.stdout


@pytest.mark.slow
def test_make_demo_from_a_fresh_clone() -> None:
    """`make demo` in a fresh clone of HEAD sets itself up and reaches a working console."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "check-demo"),
            "--fresh-clone",
            "--labels",
            "300",
            "--timeout",
            "80",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped cleanly" in result.stdout
