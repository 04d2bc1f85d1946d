"""Render throughput per label model: one process, all cores, and a bare-Pillow baseline.

Scenario "render" of `omnishelf bench`. For every label model of `firmware_protocol.models` (5
panels x 3 palettes), in one run on this machine:

- **one process**: `BatchRenderer(1)` (in the calling process) renders a whole-store reprice with
  the default templates, bit planes and content hashes included, as the controller sends them.
  A store's labels are ~80% standard, 15% promotion and 5% clearance (`STORE_MIX` of
  bench/render_speed.py); each item is on 1-3 labels. Before the timed reprices the store is
  rendered once at other prices (the warm-up): a running controller re-renders a store it has
  rendered before, so names, QR codes and fonts are cached and the new prices are what is drawn.
- **all cores**: the same reprices through one `BatchRenderer(default_workers())` pool, opened
  once before anything is measured, with its own warm-up reprice per model. The pool's
  start-up (forkserver, then each worker's warm-up) is reported in the notes, not in the rates.
  The images must hash the same as on one process. Each repetition renders on one process and
  then on the pool, so both meet the same load from the rest of the machine; the CPU time they
  got (`*_cores_used`: CPU seconds of this process, the forkserver and the workers per second
  of wall time; 1.0 and the worker count when nothing else runs) shows when that load was
  there.
- **bare Pillow**: `BarePillow` of bench/render_speed.py, generalised from the 2.9" "bench"
  template to each panel. Per panel, the baseline draws the name, the price and the QR code with
  the geometry and font sizes of that panel's shipped `standard` template, from its first page
  that shows all three (page 1, except on the 1.54" panel where page 1 has no QR code: page 2)
  and that page's first price element (the one used when there is a unit price).
  The name is set top-left (the shipped template centres it vertically); the price in its runs
  (whole part large, decimals and currency small and raised) centred vertically; the QR code
  centred in its box. Text is not anti-aliased, on a "P" canvas with the model's palette, in
  the shipped Noto Sans files opened as plain FreeType faces; the baseline is told the fitted
  sizes and line breaks (no fitting) and pastes QR masks from a dict: it is the cost of the
  pixels. `render_label` draws the same template on the same labels ("same drawing"), and every
  baseline image of the first repetition is checked byte for byte against the renderer's.
  `vs_bare_pillow` is renderer time / bare-Pillow time per label on that same drawing (< 1: the
  renderer is faster); a full default label draws more (unit price, barcode, badges) and packs
  planes, so compare `one_process_labels_s` with `bare_pillow_labels_s` only as an indication.

The warm-up reprice is the same for every model (the store's previous prices); each timed
reprice draws its prices from a seed no other model or stream of the run used (price strings
still repeat by chance, as across any store: the decimals, the currency, small whole parts).
So rates depend on the store's size: the more labels, the more of their price strings are
already cached (bench/render_speed.py's 3,006-label reprice ran at 2.1 ms a label on the
2.9" BWR; a quick run's 19 labels are slower). Palettes of one panel share font sizes, so their
names are cached once, as in a real controller. Nothing is measured while anything else of
the run computes: per model the two renderers take turns, and the baselines come last (in this
process, whose renderer has drawn the store before; at normal prices). Each repetition is a
fresh reprice; the median is reported.

    .venv/bin/python -m bench.render_models --quick
    .venv/bin/python -m bench.render_models --json render_models.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness import Section, print_section, tree_cpu_seconds
from bench.render_speed import STORE_MIX, BarePillow, BarePlan, Item, reprice, store_items
from firmware_protocol.models import LABEL_MODELS, DeviceModel
from label_renderer import DEFAULT_TEMPLATES, PriceKind, Template, render_label
from label_renderer.batch import BatchRenderer, RenderJob, default_workers
from label_renderer.library import packaged_template, panel_of, template_names
from label_renderer.template import PriceElement, QrElement, TextElement

SCENARIO = "render"
TITLE = "Render throughput per label model"


@dataclass(frozen=True)
class Sizes:
    """How much to render per model: `items` items (1-3 labels each), `reps` timed reprices."""

    items: int
    reps: int


QUICK = Sizes(items=10, reps=1)
FULL = Sizes(items=200, reps=3)


class BaselineMismatch(RuntimeError):
    """Bare Pillow did not draw the renderer's pixels, so its numbers would mean nothing."""


# -- what is drawn ---------------------------------------------------------------------------


def store_mix(model: DeviceModel) -> tuple[PriceKind, ...]:
    """`STORE_MIX` (16 normal : 3 promotion : 1 clearance), limited to the templates shipped."""
    shipped = set(template_names(model))
    return tuple(kind for kind in STORE_MIX if DEFAULT_TEMPLATES[kind] in shipped)


def bench_template(model: DeviceModel) -> Template:
    """Name + price + QR with the geometry of the panel's shipped standard template.

    The first page of `standard` that has all three; the name set top-left, as `BarePillow`
    draws it (see the module docstring).
    """
    standard = packaged_template(model.name, "standard")
    for page in standard.pages:
        name = next(
            (e for e in page.elements if isinstance(e, TextElement) and e.field == "name"), None
        )
        price = next((e for e in page.elements if isinstance(e, PriceElement)), None)
        qr = next((e for e in page.elements if isinstance(e, QrElement)), None)
        if name and price and qr:
            break
    else:
        raise ValueError(f"no page of {panel_of(model)}/standard has a name, a price and a QR")
    box = ("x", "y", "w", "h")
    elements = [
        {
            **name.model_dump(
                include={*box, "font", "size", "min_size", "max_lines", "line_spacing"}
            ),
            "type": "text",
            "field": "name",
            "id": "name",
            "valign": "top",
        },
        {
            **price.model_dump(include={*box, "font", "size", "decimals_size"}),
            "type": "price",
            "id": "price",
        },
        {**qr.model_dump(include={*box, "ecc", "border"}), "type": "qr", "id": "qr"},
    ]
    return Template.model_validate(
        {
            "name": "bench",
            "panel": panel_of(model),
            "width": model.width,
            "height": model.height,
            "pages": [{"name": "price", "elements": elements}],
        }
    )


def jobs_for(model: DeviceModel, store: Sequence[Item], seed: int) -> list[RenderJob]:
    labels = reprice(store, seed, store_mix(model))
    return [RenderJob(f"label-{i}", content, model.name) for i, content in enumerate(labels)]


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Batch:
    ms: float  # per label, median of the repetitions
    labels: int  # per repetition
    cores_used: float  # CPU seconds of this process and its workers per second, median
    hashes: list[bytes]  # of the first repetition


def measure_batches(
    batches: Sequence[BatchRenderer],
    model: DeviceModel,
    store: Sequence[Item],
    seeds: Sequence[int],
) -> list[Batch]:
    """A warm-up reprice at `seeds[0]` on each renderer, then per further seed a timed reprice
    on each in turn, so that every renderer meets the same load from the rest of the machine."""
    me = os.getpid()
    for batch in batches:
        batch.render(jobs_for(model, store, seeds[0]))
    times: list[list[float]] = [[] for _ in batches]
    used: list[list[float]] = [[] for _ in batches]
    hashes: list[list[bytes]] = [[] for _ in batches]
    count = 0
    for seed in seeds[1:]:
        todo = jobs_for(model, store, seed)
        count = len(todo)
        for index, batch in enumerate(batches):
            cpu = tree_cpu_seconds(me)
            started = time.perf_counter()
            done = batch.render(todo)
            wall = time.perf_counter() - started
            used[index].append((tree_cpu_seconds(me) - cpu) / wall)
            times[index].append(wall * 1000 / count)
            failed = [r for r in done if not r.ok]
            if failed:
                raise RuntimeError(f"{model.name}: {len(failed)} labels failed: {failed[0].error}")
            hashes[index] = hashes[index] or [r.content_hash for r in done]
    return [
        Batch(statistics.median(t), count, statistics.median(u), h)
        for t, u, h in zip(times, used, hashes, strict=True)
    ]


@dataclass
class Baseline:
    bare_ms: float  # bare Pillow per label, median of the repetitions
    same_ms: float  # render_label on the same template and labels
    checked: int  # labels whose baseline image was compared with the renderer's (all equal)


def measure_baseline(model: DeviceModel, store: Sequence[Item], seeds: Sequence[int]) -> Baseline:
    """Bare Pillow against `render_label` on the panel's bench template, same labels."""
    template = bench_template(model)
    bare = BarePillow(template, model)
    for content in reprice(store, seeds[0]):  # the store rendered before, as in (b)
        render_label(content, template, model)
    bare_times: list[float] = []
    same_times: list[float] = []
    checked = 0
    for rep, seed in enumerate(seeds[1:]):
        labels = reprice(store, seed)
        started = time.perf_counter()
        ours = [render_label(content, template, model).image for content in labels]
        same_times.append((time.perf_counter() - started) * 1000 / len(labels))
        plans: list[BarePlan] = [bare.plan(content) for content in labels]  # layout: not timed
        started = time.perf_counter()
        theirs = [bare.draw(plan) for plan in plans]
        bare_times.append((time.perf_counter() - started) * 1000 / len(labels))
        if rep == 0:
            differ = sum(a.tobytes() != b.tobytes() for a, b in zip(ours, theirs, strict=True))
            if differ:
                raise BaselineMismatch(
                    f"{model.name}: bare Pillow differs from the renderer on {differ} of "
                    f"{len(labels)} labels"
                )
            checked = len(labels)
    return Baseline(statistics.median(bare_times), statistics.median(same_times), checked)


def measure(models: Sequence[DeviceModel], sizes: Sizes, *, workers: int | None = None) -> Section:
    """The scenario on `models`, `workers` processes for "all cores" (default: every core)."""
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    workers = workers or default_workers()
    store = store_items(sizes.items, 500_000)

    def seeds(stream: int, index: int) -> list[int]:
        # The warm-up: the store at its previous prices, the same for every model. The timed
        # reprices: prices no other model or stream had.
        first = stream * 1_000_000 + (index + 1) * 1_000
        return [stream * 1_000_000] + [first + rep for rep in range(sizes.reps)]

    opening = time.perf_counter()
    with BatchRenderer(1) as in_process, BatchRenderer(workers) as pool:
        startup = time.perf_counter() - opening
        measured = {
            model.name: measure_batches((in_process, pool), model, store, seeds(1, index))
            for index, model in enumerate(models)
        }
    batches_s = time.perf_counter() - opening - startup
    base = {
        model.name: measure_baseline(model, store, seeds(2, index))
        for index, model in enumerate(models)
    }
    baselines_s = time.perf_counter() - opening - startup - batches_s

    def used(which: int) -> float:
        return statistics.median(measured[m.name][which].cores_used for m in models)

    rows: list[dict[str, Any]] = []
    for model in models:
        (a, b), c = measured[model.name], base[model.name]
        if a.hashes != b.hashes:
            raise RuntimeError(f"{model.name}: different images on 1 and on {workers} processes")
        rows.append(
            {
                "model": model.name,
                "pixels": f"{model.width}x{model.height}",
                "labels": a.labels,
                "reps": sizes.reps,
                "one_process_labels_s": round(1000 / a.ms, 1),
                "all_cores_labels_s": round(1000 / b.ms, 1),
                "scaling": round(a.ms / b.ms, 2),
                "bare_pillow_labels_s": round(1000 / c.bare_ms, 1),
                "same_drawing_labels_s": round(1000 / c.same_ms, 1),
                "vs_bare_pillow": round(c.same_ms / c.bare_ms, 2),
                "baseline_checked": c.checked,
                "one_process_cores_used": round(a.cores_used, 2),
                "all_cores_cores_used": round(b.cores_used, 2),
            }
        )
    mode = "quick mode" if sizes == QUICK else "full mode" if sizes == FULL else "custom sizes"
    notes = [
        f"A store of {sizes.items} items ({rows[0]['labels'] if rows else 0} labels, "
        "80% standard, 15% promotion, 5% clearance; default templates, bit planes and content "
        f"hashes included) repriced {sizes.reps}x per model after one warm-up reprice; "
        f"median rate ({mode}).",
        f"one_process: BatchRenderer(1), in the calling process. all_cores: BatchRenderer("
        f"{workers}), one pool for every model; its start-up (forkserver, each worker's warm-up) "
        f"took {startup:.2f} s once and is not in the rates. scaling = all cores / one process; "
        "images hash the same on both. The two take turns on every repetition.",
        f"CPU they got, median over models: one process {used(0):.2f} cores (1.00 when nothing "
        f"else runs), all cores {used(1):.2f} of {workers}.",
        "bare_pillow: plain Pillow draws name + price + QR with the geometry of the panel's "
        'standard template (1.54": its page 2, the others page 1), told the layout, no caches; '
        "same_drawing: render_label draws that template on the same labels, byte-identical "
        "(baseline_checked labels compared). vs_bare_pillow = renderer time / bare Pillow time "
        "per label on that drawing (<1: faster).",
        f"Load average (1 min) {load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after, "
        f"on {os.cpu_count()} cores: other work on the machine lowers every rate, and the "
        "scaling most.",
        f"Time: pool start-up {startup:.1f} s, batches with their warm-ups {batches_s:.1f} s, "
        f"baselines {baselines_s:.1f} s.",
    ]
    if sizes.items < 100:
        notes.append(
            "A small store gives noisy rates and a low scaling: a pool's fixed cost per batch "
            "(pickling, chunks of 32 jobs per worker) is spread over few labels."
        )
    return Section(SCENARIO, TITLE, rows, notes, round(time.perf_counter() - started, 2))


def run(*, quick: bool) -> Section:
    """Scenario 1 of `omnishelf bench`: every label model, quick (<= 12 s) or full (~3 min)."""
    return measure(LABEL_MODELS, QUICK if quick else FULL)


# -- the command -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a small store, under 12 s")
    parser.add_argument("--json", metavar="OUT", help="also write the section as JSON")
    args = parser.parse_args()
    section = run(quick=args.quick)
    print_section(section)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(section.to_json(), out, indent=2, ensure_ascii=False)


if __name__ == "__main__":  # BatchRenderer's forkserver workers import the main module
    main()
