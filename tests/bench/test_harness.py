"""The benchmark harness: the report watch's bookkeeping, percentiles and printing."""

from __future__ import annotations

import asyncio
import io
import math

from rich.console import Console

from bench.harness import Section, percentile, print_section
from bench.store_rig import ReportWatch


async def test_watch_resolves_a_waiter_only_on_the_expected_image():
    """A label's waiter resolves when it reports the wanted hash, not on another newer image."""
    watch = ReportWatch()
    wanted = watch.showing("lbl-1", b"B")
    watch.on_report("lbl-1", 2, b"A")  # newer, but another image (a bulk render)
    assert not wanted.done()
    watch.on_report("lbl-1", 3, b"B")
    assert wanted.done()
    assert watch.revision("lbl-1") == 3


async def test_watch_ignores_repeated_and_older_reports():
    """A repeated or older report neither moves the revision nor counts as new content."""
    watch = ReportWatch()
    watch.on_report("lbl-1", 5, b"A")
    watch.arm(["lbl-1", "lbl-2"])
    watch.on_report("lbl-1", 5, b"A")
    watch.on_report("lbl-1", 4, b"Z")
    assert watch.crossed == {}
    watch.on_report("lbl-2", 1, b"C")
    watch.on_report("lbl-1", 6, b"D")
    assert set(watch.crossed) == {"lbl-1", "lbl-2"}
    already = watch.showing("lbl-1", b"D")
    await asyncio.wait_for(already, 1)


def test_percentiles_interpolate_and_nan_for_nothing():
    """p50 of 1..100 is 50.5; p99 is near the top; no values give NaN."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert 99 <= percentile(values, 99) <= 100
    assert math.isnan(percentile([], 50))


def test_a_section_prints_every_row_and_note():
    """The table shows each row's values (NaN as "-"), then the notes and the time."""
    out = io.StringIO()
    section = Section("latency", "Latency", seconds=1.5, notes=["a note"])
    section.rows = [{"phase": "idle", "p99_ms": 51.25}, {"phase": "busy", "p99_ms": float("nan")}]
    print_section(section, Console(file=out, width=120))
    text = out.getvalue()
    assert "idle" in text
    assert "51.25" in text
    assert "busy" in text
    assert " - " in text
    assert "a note" in text
    assert "(1.5 s)" in text
