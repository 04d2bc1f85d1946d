"""Scenarios 2, 3 and 6: the whole pipeline on a store, catalog publish -> label report.

One store run (bench/store_rig.py: Mosquitto, the simulator and `omnishelf serve` each in their
own process, every label immediate) measures, in order:

1. first convergence: the controller starts with every label linked and nothing shown yet;
2. idle latency: single price changes one after another, each timed from HQ's publish to the
   arrival of the report of its last label showing the new image (the image is rendered in this
   process beforehand, so that the report can be recognised by its content hash);
3. the reprice: one catalog batch with a new price for every item, timed until every label
   reports a newer revision; the controller's CPU (its process and its render workers) and peak
   memory; meanwhile single price changes are published at a fixed pace (the priority lane) and
   timed as in 2;
4. render only: the same labels' images (the catalog as the reprice left it) rendered by a
   `BatchRenderer` with as many workers as the controller's, in this process, after a warm-up
   round of the images they replaced (as the controller's workers had rendered them): the rate
   the pipeline can approach.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import cpu
from bench.harness import Section, percentile, tree_rss_mb
from bench.store_rig import StoreRig, StoreShape, running_store
from controller.local_broker import LocalBroker
from controller.pipeline.render_stage import RenderStage
from controller.state.database import open_database
from label_renderer.batch import BatchRenderer, RenderJob

PROBE_TIMEOUT_S = 120.0


@dataclass
class StoreRun:
    shape: StoreShape
    first_convergence_s: float = 0.0
    idle: list[Probe] = field(default_factory=list)
    busy: list[Probe] = field(default_factory=list)
    reprice: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    render_only_s: float = float("nan")
    cpu_phases: list[cpu.PhaseCpu] = field(default_factory=list)  # convergence, reprice


async def probe(rig: StoreRig, body: dict[str, Any], wanted: dict[str, bytes]) -> Probe:
    """Publish one change; ms until the last of its labels reported the expected image."""
    started = time.perf_counter()
    futures = [rig.watch.showing(label, digest) for label, digest in wanted.items()]
    await rig.publish_item(body)
    shown = await asyncio.wait_for(asyncio.gather(*futures), PROBE_TIMEOUT_S)
    offered = [rig.watch.offered.get(key, float("nan")) for key in wanted.items()]
    return Probe((max(shown) - started) * 1000, (max(offered) - started) * 1000)


@dataclass(frozen=True)
class Probe:
    shown_ms: float  # HQ's publish -> the last label's report of the new image
    offered_ms: float  # HQ's publish -> the controller's offer (Desired) to the last label


def plan_probes(
    rig: StoreRig, count: int, rng: random.Random
) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    skus = rng.sample(rig.plain_items(), min(count, len(rig.plain_items())))
    plans = []
    for sku in skus:
        body = rig.next_price(sku)
        plans.append((body, rig.expected_hashes(body)))
    return plans


async def _jobs_now(rig: StoreRig) -> list[RenderJob]:
    """Every label's render job for the catalog as stored now, as the controller builds it."""
    async with open_database(rig.db) as conn:
        stage = RenderStage(conn, None, rig.context, clock=lambda: datetime.now(UTC))  # type: ignore[arg-type]
        jobs, _, problems, _ = await stage.jobs(rig.label_ids, datetime.now(UTC))
    if problems:
        raise RuntimeError(f"labels that cannot render: {dict(list(problems.items())[:3])}")
    return jobs


def _render_only(jobs_before: list[RenderJob], jobs_after: list[RenderJob], workers: int) -> float:
    with BatchRenderer(workers) as renderer:
        renderer.render(jobs_before)  # warm: each worker has drawn these items before
        started = time.perf_counter()
        results = renderer.render(jobs_after)
        elapsed = time.perf_counter() - started
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} render-only jobs failed: {failed[0].error}")
    return elapsed


async def _sample_peak(rig: StoreRig, peak: list[float]) -> None:
    while True:
        peak[0] = max(peak[0], tree_rss_mb(rig.controller_pid))
        await asyncio.sleep(0.1)


async def run_store(
    broker: LocalBroker,
    shape: StoreShape,
    *,
    idle_probes: int,
    busy_probes: int,
    probe_interval_s: float,
    render_only: bool,
    seed: int = 1,
) -> StoreRun:
    rng = random.Random(seed)
    run = StoreRun(shape)
    async with running_store(broker, shape) as rig:
        started = time.perf_counter()
        parties = _parties(rig, broker)
        before = cpu.snapshot(parties, started, kinds=cpu.ThreadKinds())
        profiler = rig.profile_controller("convergence")
        rig.watch.arm(rig.label_ids)
        last = await rig.all_crossed(900)
        run.first_convergence_s = last - started
        run.cpu_phases.append(
            cpu.used("first convergence", shape.labels, before, await _now(parties))
        )
        rig.end_profile(profiler)
        await rig.settled()
        run.memory = {
            **rig.controller_memory(),
            "simulator_rss_mb": round(rig.simulator_rss_mb(), 1),
            "simulator_rss_built_mb": rig.sim_rss.get("built"),
            "simulator_rss_start_mb": rig.sim_rss.get("started"),
        }

        for body, wanted in plan_probes(rig, idle_probes, rng):
            run.idle.append(await probe(rig, body, wanted))

        jobs_before = await _jobs_now(rig) if render_only else []
        bodies = rig.reprice()
        probes = plan_probes(rig, busy_probes, rng)  # each a version after the batch's
        peak = [0.0]
        profiler = rig.profile_controller("reprice")
        rig.watch.arm(rig.label_ids)
        reports_before = rig.watch.reports
        downlink_before = (rig.watch.downlink_messages, rig.watch.downlink_bytes)
        async with asyncio.TaskGroup() as tasks:
            sampler = tasks.create_task(_sample_peak(rig, peak), name="rss-sampler")
            t0 = time.perf_counter()
            before = cpu.snapshot(parties, t0, kinds=cpu.ThreadKinds())
            batch_bytes = await rig.publish_batch(bodies)
            probe_tasks = []
            for i, (body, wanted) in enumerate(probes):
                due = t0 + (i + 1) * probe_interval_s
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if len(rig.watch.crossed) == len(rig.label_ids):
                    break  # the reprice is over: later probes would be idle ones
                probe_tasks.append(tasks.create_task(probe(rig, body, wanted)))
            last = await rig.all_crossed(1800)
            elapsed = last - t0
            used = cpu.used("reprice", shape.labels, before, await _now(parties))
            run.cpu_phases.append(used)
            rig.end_profile(profiler)
            run.busy = [await task for task in probe_tasks]
            sampler.cancel()
        await rig.settled()
        run.reprice = {
            "seconds": elapsed,
            "labels_per_s": shape.labels / elapsed,
            "batch_mb": batch_bytes / 1e6,
            "controller_cpu_s": used.controller_s + used.link_s + used.workers_s,
            "controller_cores": (used.controller_s + used.link_s + used.workers_s) / elapsed,
            "simulator_cpu_s": used.simulator_s,
            "broker_cpu_s": used.broker_s,
            "controller_tree_peak_rss_mb": peak[0],
            "reports": rig.watch.reports - reports_before,
            "downlink": {
                "messages": rig.watch.downlink_messages - downlink_before[0],
                "bytes": rig.watch.downlink_bytes - downlink_before[1],
            },
            "controller_main_cpu_s": used.controller_s,
            "device_link_cpu_s": used.link_s,
            "ceiling_labels_per_s": used.ceiling_labels_per_s,
            **rig.controller_memory(),
        }
        if render_only:
            jobs_after = await _jobs_now(rig)
            run.render_only_s = await asyncio.to_thread(
                _render_only, jobs_before, jobs_after, shape.render_workers
            )
    return run


async def _now(parties: cpu.Parties) -> cpu.Snapshot:
    """A snapshot with the threads' kinds; py-spy's dump takes a moment, off the loop that
    timestamps the labels' reports."""
    return await asyncio.to_thread(cpu.snapshot, parties, time.perf_counter())


def _parties(rig: StoreRig, broker: LocalBroker) -> cpu.Parties:
    simulator = rig.simulator.pid if rig.simulator is not None else None
    return cpu.Parties(rig.controller_pid, simulator, broker.pid)


# ---- sections ---------------------------------------------------------------------------------


def reprice_section(run: StoreRun) -> Section:
    r = run.reprice
    render_rate = run.shape.labels / run.render_only_s
    section = Section("reprice", f"Full-store reprice: {run.shape.labels:,} labels, one batch")
    section.rows.append(
        {
            "labels": run.shape.labels,
            "items": run.shape.items,
            "access_points": run.shape.access_points,
            "render_workers": run.shape.render_workers,
            "first_convergence_s": round(run.first_convergence_s, 1),
            "reprice_s": round(r["seconds"], 1),
            "labels_per_s": round(r["labels_per_s"]),
            "render_only_s": round(run.render_only_s, 1),
            "render_only_labels_per_s": round(render_rate),
            "vs_render_only": round(r["labels_per_s"] / render_rate, 2),
            "controller_cpu_s": round(r["controller_main_cpu_s"], 1),
            "controller_ms_per_label": round(
                r["controller_main_cpu_s"] * 1000 / run.shape.labels, 3
            ),
            "device_link_cpu_s": round(r["device_link_cpu_s"], 1),
            "controller_ceiling_labels_per_s": round(r["ceiling_labels_per_s"]),
            "render_workers_cpu_s": round(
                r["controller_cpu_s"] - r["controller_main_cpu_s"] - r["device_link_cpu_s"], 1
            ),
            "controller_cores": round(r["controller_cores"], 2),
            "simulator_cpu_s": round(r["simulator_cpu_s"], 1),
            "broker_cpu_s": round(r["broker_cpu_s"], 1),
            "controller_peak_rss_mb": r["controller_peak_rss_mb"],
            "with_workers_peak_rss_mb": round(r["controller_tree_peak_rss_mb"], 1),
            "batch_mb": round(r["batch_mb"], 1),
        }
    )
    section.notes += [
        "reprice_s: HQ's publish of one batch (a new price for every item) until the last label"
        " reported a newer revision; render_only: the same labels' new images rendered by a"
        " BatchRenderer with the same number of workers in the same run, warm.",
        "CPU: seconds used during the reprice by the controller process, its device link"
        " process, its render workers (controller_cores = the three / wall s), the simulator"
        " process and Mosquitto; controller_ceiling: labels / CPU s of the busier of the"
        " controller's two processes, the rate it could reach with a core for each (the cpu"
        " section splits it by thread).",
        "Targets: <= 45 s for 20,000 labels and >= 0.8x the render-only rate.",
    ]
    return section


def latency_section(runs: list[StoreRun]) -> Section:
    section = Section("latency", "Single price change: HQ publish -> the label's report")
    for run in runs:
        for phase, probes in (("idle", run.idle), ("during reprice", run.busy)):
            shown = [p.shown_ms for p in probes]
            offered = [p.offered_ms for p in probes]
            section.rows.append(
                {
                    "labels": run.shape.labels,
                    "phase": phase,
                    "changes": len(probes),
                    "p50_ms": round(percentile(shown, 50), 1),
                    "p95_ms": round(percentile(shown, 95), 1),
                    "p99_ms": round(percentile(shown, 99), 1),
                    "max_ms": round(max(shown, default=float("nan")), 1),
                    "offer_p50_ms": round(percentile(offered, 50), 1),
                    "offer_p99_ms": round(percentile(offered, 99), 1),
                }
            )
    section.notes += [
        "Each change is a new price for an item without a promotion, published as"
        " catalog/item/SKU; it is done when every label of the item reported the image rendered"
        " for it beforehand (matched by content hash). Idle: one after another. During the"
        " reprice: one every interval from the batch's publish until every label had"
        " reported; they are stored between the parts of the batch, then overtake its renders"
        " and pushes."
        " offer_*: publish -> the controller's Desired to the label (the rest is the broker,"
        " the simulated label and its report).",
        "The simulator's labels are immediate (no wake delay, no e-paper refresh time).",
        "Targets: p99 <= 100 ms idle, <= 1 s during the reprice.",
    ]
    return section


def memory_section(runs: list[StoreRun]) -> Section:
    section = Section("memory", "Memory per managed label and per simulated device")
    for run in runs:
        m, r = run.memory, run.reprice
        labels = run.shape.labels
        sim_base = m["simulator_rss_start_mb"] or 0.0
        section.rows.append(
            {
                "labels": labels,
                "controller_rss_mb": m["controller_rss_mb"],
                "controller_kb_per_label": round(m["controller_rss_mb"] * 1024 / labels, 1),
                "controller_peak_rss_mb": r.get("controller_peak_rss_mb", m["controller_rss_mb"]),
                "render_workers_rss_mb": m["render_workers_rss_mb"],
                "simulator_rss_mb": m["simulator_rss_mb"],
                "simulator_kb_per_device": round(
                    (m["simulator_rss_mb"] - sim_base) * 1024 / labels, 1
                ),
            }
        )
    if len(runs) > 1:
        small, big = runs[0], runs[-1]
        marginal = (
            (big.memory["controller_rss_mb"] - small.memory["controller_rss_mb"])
            * 1024
            / (big.shape.labels - small.shape.labels)
        )
        section.notes.append(
            f"Marginal controller memory: {marginal:.1f} KB per label between"
            f" {small.shape.labels:,} and {big.shape.labels:,} labels."
        )
    section.notes += [
        "controller_rss_mb: the controller process after first convergence (settled);"
        " controller_peak_rss_mb: its high-water mark after the reprice. The render workers"
        " are separate processes, counted apart. Simulator per device: (RSS when connected -"
        " RSS at start) / labels.",
        "Target: controller <= 150 MB RSS at 20,000 labels.",
    ]
    return section
