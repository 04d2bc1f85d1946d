"""Shared fixtures: a private Mosquitto per test session, a unique store id per test.

And the end-of-run check that the run leaves no process behind: every process a test starts
(brokers, controllers, render pools, simulators) carries this run's marker in its environment;
any that is still running when the session ends fails the run, named, and is then killed.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.local_broker import LocalBroker
from tests.support.processes import (
    RUN_MARKER_VAR,
    descendants,
    kill,
    marked,
    multiprocessing_helpers,
    wait_until_gone,
)

_counter = itertools.count(1)
_RUN_MARKER = f"pytest-{os.getpid()}-{secrets.token_hex(4)}"
LEFTOVER_GRACE_S = 5.0  # for processes still shutting down (a broker on SIGTERM, a pool)


def pytest_configure(config: pytest.Config) -> None:
    os.environ[RUN_MARKER_VAR] = _RUN_MARKER  # inherited by every process the tests start


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process it started is still running (named, then killed)."""
    suspects = {p.pid: p for p in marked(_RUN_MARKER) + descendants(os.getpid())}
    for helper in multiprocessing_helpers(os.getpid()):  # they end with this process
        suspects.pop(helper.pid, None)
    left = wait_until_gone(suspects.values(), within_s=LEFTOVER_GRACE_S)
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(left)} processes started by this test run are still running:"]
    lines += [f"  {process}" for process in left]
    lines.append("(killed now; a test or a component does not stop what it starts)")
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)
    kill(left)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real Mosquitto started from deploy/mosquitto/ on a free port."""
    workdir: Path = tmp_path_factory.mktemp("mosquitto")
    with LocalBroker(workdir, secrets.token_urlsafe(24)) as running:
        yield running


@pytest.fixture
def store_id() -> str:
    """A store id no other test uses, so each test has its own topic prefix."""
    return f"t{next(_counter)}x{secrets.token_hex(3)}"
