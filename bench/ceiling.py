"""Is the controller the ceiling? The CPU of each party per phase, and the scale curve.

Both sections come from store runs (bench/pipeline.py), whose phases carry a `PhaseCpu`
(bench/cpu.py). CPU seconds are the numbers to compare across runs on a shared machine; wall
seconds, and so "cores" (CPU s / wall s), move with whatever else the machine is doing.
"""

from __future__ import annotations

from typing import Any

from bench.cpu import PhaseCpu
from bench.harness import Section
from bench.pipeline import StoreRun


def cpu_section(run: StoreRun) -> Section:
    """One row per party and phase: CPU s, cores used, ms per label."""
    section = Section(
        "cpu", f"Where the CPU went: {run.shape.labels:,} labels, per process and thread"
    )
    for phase in run.cpu_phases:
        for party, seconds in phase.parts():
            section.rows.append(
                {
                    "phase": phase.phase,
                    "party": party,
                    "cpu_s": round(seconds, 2),
                    "cores": round(seconds / phase.wall_s, 2) if phase.wall_s > 0 else None,
                    "ms_per_label": round(seconds * 1000 / phase.labels, 3),
                    "wall_s": round(phase.wall_s, 1),
                }
            )
    for phase in run.cpu_phases:
        section.notes.append(
            f"{phase.phase}: controller ceiling {phase.ceiling_labels_per_s:,.0f} labels/s"
            f" (labels / CPU s of the busier of its processes = {phase.labels:,} /"
            f" {max(phase.controller_s, phase.link_s):.1f}; controller"
            f" {phase.controller_ms_per_label:.2f} ms a label, device link"
            f" {phase.link_ms_per_label:.2f});"
            f" the store moved {phase.labels / phase.wall_s:,.0f} labels/s in {phase.wall_s:.1f} s"
            " of wall time."
        )
    if run.shape.render_workers == 1:
        section.notes.append(
            "One render worker: the controller renders in its own process (label_renderer's"
            " BatchRenderer(1), in an executor thread counted in 'other threads'), so its"
            " ceiling here includes rendering; compare ceilings at 2 or more workers."
        )
    section.notes += [
        "The event loop is the controller's main thread; database threads are aiosqlite's (one"
        " per connection, found by their stacks with py-spy dump); other threads: asyncio's"
        " executor, the render pool's handlers and threads that ended. First convergence counts"
        " from the controller's start (its imports included).",
        "cores = CPU s / wall s: wall time is shared with every other process on the machine,"
        " CPU seconds much less so. Target (issue 14): <= 0.25 ms a label on the reprice"
        " (a ceiling >= 4,000 labels/s).",
    ]
    return section


def _phase(run: StoreRun, name: str) -> PhaseCpu | None:
    return next((p for p in run.cpu_phases if p.phase == name), None)


def scale_row(run: StoreRun) -> dict[str, Any]:
    """The scale curve's columns for one store size."""
    converge, reprice = _phase(run, "first convergence"), _phase(run, "reprice")
    row: dict[str, Any] = {
        "labels": run.shape.labels,
        "render_workers": run.shape.render_workers,
        "first_convergence_s": round(run.first_convergence_s, 1),
        "reprice_s": round(run.reprice["seconds"], 1),
        "reprice_labels_per_s": round(run.reprice["labels_per_s"]),
    }
    for prefix, phase in (("convergence", converge), ("reprice", reprice)):
        if phase is None:
            continue
        row[f"{prefix}_controller_ms_per_label"] = round(phase.controller_ms_per_label, 3)
        row[f"{prefix}_loop_ms_per_label"] = round(phase.loop_s * 1000 / phase.labels, 3)
        row[f"{prefix}_database_ms_per_label"] = round(phase.database_s * 1000 / phase.labels, 3)
        row[f"{prefix}_device_link_ms_per_label"] = round(phase.link_ms_per_label, 3)
    if reprice is not None:
        row["reprice_ceiling_labels_per_s"] = round(reprice.ceiling_labels_per_s)
    row["controller_rss_mb"] = run.memory.get("controller_rss_mb")
    row["controller_peak_rss_mb"] = run.reprice.get("controller_peak_rss_mb")
    return row


def scale_section(runs: list[StoreRun]) -> Section:
    section = Section("scale", "Scale curve: the same store scenario at several sizes")
    section.rows = [scale_row(run) for run in sorted(runs, key=lambda r: r.shape.labels)]
    rows = [r for r in section.rows if "reprice_controller_ms_per_label" in r]
    if len(rows) > 1:
        per_label = [r["reprice_controller_ms_per_label"] for r in rows]
        spread = max(per_label) / min(per_label) - 1 if min(per_label) > 0 else float("nan")
        section.notes.append(
            f"Controller CPU per label on the reprice varies by {spread:.0%} from"
            f" {rows[0]['labels']:,} to {rows[-1]['labels']:,} labels (issue 14: flat within"
            " 25%)."
        )
    section.notes += [
        "first convergence: the controller starts with every label linked and nothing shown,"
        " until every label reported its first image; reprice: one batch with a new price for"
        " every item, until every label reported it. Per-label CPU is the controller process"
        " (loop: its event loop thread; database: its aiosqlite threads), render workers apart.",
        "controller_rss_mb: settled after first convergence; controller_peak_rss_mb: its"
        " high-water mark after the reprice (the kernel's VmHWM). Wall seconds are noisy on a"
        " shared machine; the CPU columns much less.",
    ]
    return section
