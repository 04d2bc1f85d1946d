"""The bounded chaos run: a store over the real broker while the broker, the controller, the
disk and the access points fail; every guarantee checked (bench/chaos.py)."""

from __future__ import annotations

import io

import pytest

from bench.chaos import ChaosPlan, chaos_run, print_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_the_store_keeps_its_guarantees_through_the_faults():
    """No revision goes down, no acknowledged change is lost, no stall, and every label shows its
    latest image within 60 s of the last fault."""
    plan = ChaosPlan(labels=150, access_points=3, singles=10)
    async with chaos_run(plan, log=print) as run:
        report = await run.run()
    out = io.StringIO()
    print_report(report, out)
    print(out.getvalue())
    assert report.broker_kills == 2
    assert report.controller_kills >= 3
    if report.disk_full == "filled and freed":  # root: the state database's disk was filled
        assert sum(report.controller_exits.values()) >= 1, out.getvalue()
    assert report.changes_lost == 0, out.getvalue()
    assert report.revision_regressions == 0, out.getvalue()
    assert report.stalls == 0, out.getvalue()
    assert report.labels_converged == report.labels, out.getvalue()
    assert report.ok, out.getvalue()
