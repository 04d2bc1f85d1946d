"""The end-of-run check of tests/conftest.py: a run that leaves a process behind fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.processes import running_processes

ROOT = Path(__file__).resolve().parent.parent
LEAKY_TEST = """
import subprocess

def test_leaks_a_process():
    subprocess.Popen(["sleep", "{tag}"])
"""


def test_finding_8_a_test_run_that_leaves_a_process_behind_fails_and_names_it(
    tmp_path: Path,
) -> None:
    """A test that starts a process and forgets it makes the whole run fail, naming the
    process, and the check ends it."""
    tag = "299.123"  # an unusual duration: no other process has this command line
    (tmp_path / "test_leaky.py").write_text(LEAKY_TEST.format(tag=tag), encoding="utf-8")
    run = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "tests.conftest",
            ),
            *("--rootdir", str(tmp_path), str(tmp_path / "test_leaky.py")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0, run.stdout
    assert "1 passed" in run.stdout  # the test itself passed: the check failed the run
    assert f"sleep {tag}" in run.stdout, run.stdout
    assert not [p for p in running_processes() if p.command == f"sleep {tag}"]
