"""The simulator passes the conformance check over the real Mosquitto: a label on its own
connection (always listening) and a label behind an access point (sleepy, 2 s check-ins), run
in-process and once through `omnishelf conformance` as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conformance.context import Outcome
from conformance.runner import NAMES, SCENARIOS, run_conformance
from controller.cli import app
from controller.local_broker import LocalBroker
from device_sim.behaviour import Behaviour
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store, label_id
from tests.support.running import running

OMNISHELF = Path(sys.executable).parent / "omnishelf"


@asynccontextmanager
async def simulated_label(
    broker: LocalBroker, store: str, *, access_points: int, checkin_s: float
) -> AsyncIterator[str]:
    """One simulated label (and its access point) connected to the broker; yields its id."""
    broker.add_store(store)
    behaviour = Behaviour(
        checkin_s=checkin_s, refresh_bw_s=0.0, refresh_colour_s=0.0, ap_throughput_bps=0.0
    )
    gateways = build_store(StoreSpec(store, labels=1, access_points=access_points), behaviour)
    broker.add_clients([gw.gateway_id for gw in gateways])
    sim = Simulator(gateways, broker.address(), broker.store_secret)
    ready = asyncio.Event()
    async with running(sim.run(ready=ready)):
        await asyncio.wait_for(ready.wait(), 10)
        yield label_id(1)


@pytest.mark.parametrize(
    ("access_points", "checkin_s"), [(0, 0.0), (1, 2.0)], ids=["direct", "via-access-point"]
)
async def test_simulator_passes_every_scenario(
    broker: LocalBroker, store_id: str, access_points: int, checkin_s: float
) -> None:
    """Every scenario passes, in the documented order, each with its clause."""
    async with simulated_label(
        broker, store_id, access_points=access_points, checkin_s=checkin_s
    ) as device:
        report = await run_conformance(broker.address(), store_id, device, broker.store_secret)
    lines = "\n".join(r.line() for r in report.results)
    assert [(r.name, r.outcome) for r in report.results] == [
        (name, Outcome.PASS) for name in NAMES
    ], lines
    assert [r.clause for r in report.results] == [s.clause for s in SCENARIOS]
    assert report.gateway == ("ap-01" if access_points else device)
    assert report.checkin_s == checkin_s
    assert report.expect_s == (10.0 if checkin_s == 0 else 2 * checkin_s + 30.0)


async def _omnishelf(*args: str, secret: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(OMNISHELF),
        "conformance",
        *args,
        env={**os.environ, "OMNISHELF_STORE_SECRET": secret},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_prints_a_line_per_scenario_and_exits_0(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """`omnishelf conformance` against the simulator: one PASS line per scenario with its
    clause, exit status 0, and the same results in the JSON file."""
    results = tmp_path / "results.json"
    async with simulated_label(broker, store_id, access_points=0, checkin_s=0.0) as device:
        status, out, err = await _omnishelf(
            f"--broker={broker.url}",
            f"--store={store_id}",
            f"--device={device}",
            f"--json={results}",
            secret=broker.store_secret,
        )
    assert status == 0, out + err
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines] == [["PASS", name] for name in NAMES]
    for line, scenario in zip(lines, SCENARIOS, strict=True):
        assert f"  {scenario.clause}  " in line
    written = json.loads(results.read_text(encoding="utf-8"))
    assert written["passed"] is True
    assert written["device"] == device
    assert [(r["name"], r["outcome"]) for r in written["results"]] == [
        (name, "PASS") for name in NAMES
    ]


async def test_cli_exits_1_when_the_device_never_shows_up(
    broker: LocalBroker, store_id: str
) -> None:
    """A device with no Birth (retained or after a Rebirth) fails the first scenario: exit 1."""
    broker.add_store(store_id)
    status, out, err = await _omnishelf(
        f"--broker={broker.url}",
        f"--store={store_id}",
        "--device=lbl-nobody",
        "--scenario=birth",
        "--scenario=delta",
        "--timeout-scale=0.2",
        secret=broker.store_secret,
    )
    assert status == 1, out + err
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["FAIL", "birth"],
        ["SKIP", "delta"],
    ]
    assert "no Birth from lbl-nobody" in out


@pytest.mark.parametrize(
    ("args", "secret", "says"),
    [
        (["--scenario=no-such"], None, "unknown scenario no-such"),
        ([], "not-the-store-secret", "cannot connect"),
        (["--broker=http://x"], None, "mqtt://host:port"),
        (["--device=lbl/1"], None, "must be 1-64 of"),
    ],
    ids=["unknown-scenario", "wrong-secret", "bad-broker-url", "bad-device-id"],
)
def test_cli_exits_2_when_the_check_cannot_run(
    broker: LocalBroker, store_id: str, args: list[str], secret: str | None, says: str
) -> None:
    """Usage errors and a broker that refuses the controller's account exit 2, saying why
    (in-process: no result line is printed)."""
    broker.add_store(store_id)
    result = CliRunner().invoke(
        app,
        [
            "conformance",
            f"--broker={broker.url}",
            f"--store={store_id}",
            "--device=lbl-00001",
            *args,
        ],
        env={"OMNISHELF_STORE_SECRET": secret or broker.store_secret},
    )
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.stderr.replace("│", " ").split())
    assert result.stdout == ""
