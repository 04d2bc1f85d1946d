"""`omnishelf demo`'s first convergence display: progress with an estimate, on the real stack
(Mosquitto or amqtt, the simulator, the controller and its render worker)."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from rich.console import Console

from controller.demo.cli import converging
from controller.demo.stack import running_demo

LABELS = 150


async def test_the_display_shows_progress_and_time_left_until_all_are_confirmed(
    tmp_path: Path,
) -> None:
    """From its first second: "N / 150 labels confirmed ..."; an estimate ("~N s left") as soon
    as anything was rendered; then "all 150 labels confirmed" (what scripts/check-demo waits
    for)."""
    out = io.StringIO()
    async with running_demo(
        tmp_path, labels=LABELS, catalog_interval_s=3600, workers=1, access_points=2
    ) as stack:
        task = asyncio.create_task(converging(stack, LABELS, Console(file=out, width=200)))
        await asyncio.sleep(0.5)
        first_second = out.getvalue()
        await asyncio.wait_for(task, 90)
    lines = out.getvalue().splitlines()
    progress = re.compile(
        r"^  (?P<confirmed>[\d,]+) / 150 labels confirmed( \((?P<rendered>[\d,]+) rendered\))?,"
        r" (?P<left>time left unknown|~\d+ (s|min) left)$"
    )
    assert progress.match(first_second.splitlines()[0]), first_second
    matches = [progress.match(line) for line in lines[:-1]]
    assert all(matches), lines
    moving = [m for m in matches if m and (m["confirmed"] != "0" or m["rendered"] != "0")]
    assert moving, lines
    assert all(m["left"] != "time left unknown" for m in moving), lines
    assert re.match(r"^all 150 labels confirmed in [\d.]+ s", lines[-1]), lines
