"""What every benchmark scenario shares: a section of results, process measurements, percentiles.

A scenario is a function that returns a `Section`: a title, rows (one dict per measurement, the
same keys in every row), and notes (what a reader needs to read the numbers). `omnishelf bench`
prints each section as a table and writes them all as JSON.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from controller.local_broker import find_mosquitto

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Section:
    scenario: str  # "render", "reprice", "latency", "bytes", "mqtt", "memory"
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # how long the scenario took to run

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- processes -------------------------------------------------------------------------------


def _status_kb(pid: int | str, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise ValueError(f"/proc/{pid}/status has no {key}")


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory now."""
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    """The highest resident memory the process has had (the kernel's high-water mark)."""
    return _status_kb(pid, "VmHWM") / 1024


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time the process has used so far (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """Direct and indirect child processes (the controller's render workers)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            kids = (task / "children").read_text().split()
            found.extend(int(k) for k in kids)
            todo.extend(int(k) for k in kids)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its living children."""
    total = cpu_seconds(pid)
    for child in children(pid):
        with contextlib.suppress(FileNotFoundError):  # ended meanwhile
            total += cpu_seconds(child)
    return total


def tree_rss_mb(pid: int) -> float:
    total = rss_mb(pid)
    for child in children(pid):
        with contextlib.suppress(FileNotFoundError):
            total += rss_mb(child)
    return total


# ---- numbers ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), interpolated; NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=1000, method="inclusive")
    index = round(p * 10) - 1
    return cuts[min(max(index, 0), len(cuts) - 1)]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = _status_kb_meminfo("MemTotal")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "mosquitto": _mosquitto_version(),
    }


def _status_kb_meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _mosquitto_version() -> str:
    try:
        out = subprocess.run(
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except Exception:  # noqa: BLE001 - only a label in the report
        return "unknown"
    first = out.splitlines()[0] if out else ""
    return first.replace("mosquitto version", "").strip() or "unknown"


# ---- printing --------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A value as the tables show it: thousands separated, at most 2 decimals, NaN as "-"."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def print_section(section: Section, console: Console | None = None) -> None:
    """The section as a table (one column per key of its rows), its notes and its run time."""
    console = console or Console()
    if not console.is_terminal:  # piped or in a log: do not squeeze the table into 80 columns
        console.width = max(console.width, 160)
    table = Table(title=section.title, title_justify="left")
    columns = list(section.rows[0]) if section.rows else []
    for column in columns:
        numeric = any(isinstance(row.get(column), int | float) for row in section.rows)
        table.add_column(column.replace("_", " "), justify="right" if numeric else "left")
    for row in section.rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    console.print(table)
    for note in section.notes:
        console.print(f"- {note}", highlight=False)
    console.print(f"({section.seconds:.1f} s)", highlight=False)
