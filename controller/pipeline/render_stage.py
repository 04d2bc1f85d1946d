"""Queued labels -> rendered images -> planned pushes.

Each round takes the most urgent queued labels, reads the current item of each (latest wins: a
change stored while an older one waited is the one rendered), renders off the event loop (a
process pool for a store, in-process for a handful), and in one transaction plans a push for each
label whose content hash differs from its desired one (identical content is never resent, unless
staff forced a relabel), records the prices now applied (the Omnibus history), and removes the
rows it rendered. A crash anywhere before that commit leaves the rows queued: they render again.

Each label's transfer (the delta against what it shows, zlib, hashes) is built by the render
workers along with its image and left in the prepared-transfer book (pipeline/prepared.py) once
the round's push is planned, so the push stage only frames and publishes it; the round's Omnibus
histories are read in one query. The event loop keeps only the bookkeeping per label.

A label that cannot be rendered (its item deleted, a price that does not fit its template) gets a
problem report and keeps its current image. An unlinked label is blanked (all white): a price
nobody maintains any more must not stay on the shelf.

Poison isolation: one item must not stop every round. An item whose stored body cannot be read,
or that fails to become a `LabelContent`, or whose render or planning raises, is quarantined:
its labels get a problem (the problems API and the console show it, and a log line says why),
their rows leave the queue with the round (so they are not retried in a hot loop; the item's
next change queues them again), and the rest of the round is rendered. A controller restarted
with such an item stored therefore starts as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import aiosqlite

from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext, label_content
from controller.catalog.pricing import AppliedPrice, history_intervals
from controller.pipeline.ingest import is_poison
from controller.pipeline.prepared import (
    PreparedTransfer,
    PreparedTransfers,
    ShownImage,
    shown_images,
)
from controller.state import render_queue
from controller.state.catalog_repo import (
    applied_prices_of,
    readable_items,
    record_applied_prices,
)
from controller.state.database import transaction
from controller.state.devices_repo import render_targets
from controller.state.fleet_repo import set_problem
from controller.state.labels_repo import PlannedImage, Priority, plan_pushes
from controller.state.render_queue import QueuedRender
from controller.state.stock_repo import shelf_summaries
from firmware_protocol.models import ModelId, model
from firmware_protocol.planes import content_hash
from firmware_protocol.transfer import compress_planes
from label_renderer.batch import BatchRenderer, RenderedPlanes, RenderJob
from label_renderer.content import LabelContent
from label_renderer.errors import ContentError, RenderError

log = logging.getLogger(__name__)

ROUND_SIZE = 128
# What an item's values can make computing its label content or rendering raise (a date whose
# Omnibus window leaves the calendar, a unit price with no finite value, a bug in a template):
# that item is quarantined. A broken process pool (BrokenExecutor is a RuntimeError) or an
# unusable database is not an item's fault and still ends the round.
CONTENT_POISON: tuple[type[Exception], ...] = (
    ValueError,
    ArithmeticError,
    TypeError,
    LookupError,
    AttributeError,
    RecursionError,
    ContentError,
)
RENDER_POISON: tuple[type[Exception], ...] = (*CONTENT_POISON, RenderError)


@dataclass(slots=True)
class PreparedRound:
    """A round on its way: its queue rows, jobs and item contents, then its render results."""

    queued: list[QueuedRender]
    now: datetime
    jobs: list[RenderJob]
    contents: dict[str, LabelContent]
    problems: dict[str, str]
    blanks: list[RenderedPlanes]
    read_ms: float = 0.0
    render_ms: float = 0.0
    results: list[RenderedPlanes] = field(default_factory=list)

    @property
    def device_ids(self) -> frozenset[str]:
        return frozenset(q.device_id for q in self.queued)

    @property
    def bulk(self) -> bool:
        return self.queued[0].priority is Priority.BULK


@dataclass(frozen=True, slots=True)
class RoundResult:
    rendered: int
    planned: int  # pushes planned (content differed, or forced)
    failed: int


def promotion_history(
    item: CatalogItem, shelf: dict[str, list[AppliedPrice]]
) -> list[AppliedPrice]:
    """Every price known to have applied: HQ's history and what this store's shelves showed
    (`shelf`: the applied prices of the round's promoted items, read in one query)."""
    from_hq = history_intervals((p.price, p.valid_from, p.valid_to) for p in item.price_history)
    return from_hq + shelf.get(item.sku, [])


class RenderStage:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        renderer: BatchRenderer,
        context: StoreContext,
        *,
        clock: Callable[[], datetime],
        reader: aiosqlite.Connection | None = None,
        prepared: PreparedTransfers | None = None,
    ) -> None:
        self.conn = conn
        self.reader = reader or conn  # reads: another connection's thread, beside the writes
        # Transfers built by the workers, for the push stage of the same database.
        self.prepared = prepared if prepared is not None else PreparedTransfers.of(conn)
        self.renderer = renderer
        self.context = context
        self.clock = clock

    async def run_round(self) -> RoundResult | None:
        """Render one round of queued labels; None when the queue is empty."""
        prepared = await self.prepare()
        if prepared is None:
            return None
        return await self.finish(await self.render(prepared))

    async def prepare(self, rendering: frozenset[str] = frozenset()) -> PreparedRound | None:
        """The next round: the most urgent queued labels not in `rendering` (a round still in
        the render processes) and their render jobs; None when nothing else is queued."""
        started = time.perf_counter()
        taken = await render_queue.take(self.reader, ROUND_SIZE + len(rendering))
        queued = [q for q in taken if q.device_id not in rendering][:ROUND_SIZE]
        if not queued:
            return None
        if queued[0].priority < Priority.BULK:
            # The priority lane: staff and single changes make a round of their own, a few
            # milliseconds to render, instead of waiting for a round of bulk labels.
            queued = [q for q in queued if q.priority < Priority.BULK]
        now = self.clock()
        jobs, contents, problems, blanks = await self.jobs([q.device_id for q in queued], now)
        prepared = PreparedRound(queued, now, jobs, contents, problems, blanks)
        prepared.read_ms = 1000 * (time.perf_counter() - started)
        return prepared

    async def render(self, prepared: PreparedRound) -> PreparedRound:
        """Render the round in the process pool, off the event loop."""
        started = time.perf_counter()
        if prepared.jobs:
            try:
                prepared.results = await asyncio.to_thread(self.renderer.render, prepared.jobs)
            except RENDER_POISON:
                log.exception("a render round of %d labels failed", len(prepared.jobs))
                prepared.results = [await self._render_alone(job) for job in prepared.jobs]
        prepared.render_ms = 1000 * (time.perf_counter() - started)
        return prepared

    async def _render_alone(self, job: RenderJob) -> RenderedPlanes:
        """One job of a round that failed, so that only the job that fails is quarantined."""
        try:
            [result] = await asyncio.to_thread(self.renderer.render, [job])
        except RENDER_POISON as exc:
            return RenderedPlanes(
                job.key, job.model, job.template, job.page, error=f"{type(exc).__name__}: {exc}"
            )
        return result

    async def finish(self, prepared: PreparedRound) -> RoundResult:
        """Plan the pushes of a rendered round and remove its rows from the queue."""
        queued, now, problems = prepared.queued, prepared.now, prepared.problems
        planning = time.perf_counter()
        results = prepared.results + prepared.blanks
        by_key = {r.key: r for r in results}
        shown = {job.key: job.base_hash for job in prepared.jobs}
        plans: list[PlannedImage] = []
        for entry in queued:
            result = by_key.get(entry.device_id)
            if result is None:
                continue
            if not result.ok:
                problems[entry.device_id] = f"render failed: {result.error}"
                continue
            plans.append(
                PlannedImage(
                    entry.device_id,
                    result.content_hash,
                    entry.priority,
                    entry.reason,
                    entry.force,
                    result.planes or None,
                    result.page,
                    result.template,
                    result.compressed or None,
                )
            )
        prices = [(sku, c.price.amount, c.price.currency) for sku, c in prepared.contents.items()]
        try:
            planned = await self._commit(plans, prices, problems, queued, now)
        except CONTENT_POISON as exc:
            if not is_poison(exc):
                raise
            log.exception("planning a round of %d labels failed: planning each alone", len(queued))
            planned = await self._commit_each(plans, prices, problems, queued, now)
        # After the commit, with no await before the push stage can look: a push it reads from
        # now on finds its transfer built.
        for device_id in planned:
            result = by_key[device_id]
            if result.payload is not None:
                self.prepared.put(
                    device_id,
                    PreparedTransfer(result.payload, result.compressed, shown.get(device_id)),
                )
        log.info(
            "rendered %d labels (%d new images, %d problems): %.0f ms reading, %.0f ms"
            " rendering, %.0f ms planning",
            len(results),
            len(planned),
            len(problems),
            prepared.read_ms,
            prepared.render_ms,
            1000 * (time.perf_counter() - planning),
        )
        return RoundResult(len(results), len(planned), len(problems))

    async def _commit(
        self,
        plans: list[PlannedImage],
        prices: list[tuple[str, Decimal, str]],
        problems: dict[str, str],
        queued: list[QueuedRender],
        now: datetime,
    ) -> list[str]:
        """One transaction: the pushes planned, the prices applied, the problems recorded and
        the rows done; returns the labels whose push was planned."""
        async with transaction(self.conn):
            revisions = await plan_pushes(self.conn, plans, now)
            await record_applied_prices(self.conn, prices, now)
            for device_id, problem in problems.items():
                log.warning("%s: %s", device_id, problem)
                await set_problem(self.conn, device_id, problem, now)
            await render_queue.done(self.conn, queued)
        return [
            plan.device_id
            for plan, revision in zip(plans, revisions, strict=True)
            if revision is not None
        ]

    async def _commit_each(
        self,
        plans: list[PlannedImage],
        prices: list[tuple[str, Decimal, str]],
        problems: dict[str, str],
        queued: list[QueuedRender],
        now: datetime,
    ) -> list[str]:
        """A round whose planning failed, label by label: the label that fails is quarantined
        (a problem, its row done), the others are planned."""
        plan_of = {plan.device_id: plan for plan in plans}
        planned: list[str] = []
        for entry in queued:
            plan = plan_of.get(entry.device_id)
            problem = (
                {entry.device_id: problems[entry.device_id]} if entry.device_id in problems else {}
            )
            try:
                planned += await self._commit([plan] if plan else [], [], problem, [entry], now)
            except CONTENT_POISON as exc:
                if not is_poison(exc):
                    raise
                reason = f"planning failed: {type(exc).__name__}: {exc}"[:500]
                problems[entry.device_id] = reason
                await self._commit([], [], {entry.device_id: reason}, [entry], now)
        async with transaction(self.conn):
            await record_applied_prices(self.conn, prices, now)
        return planned

    async def jobs(
        self, device_ids: list[str], now: datetime
    ) -> tuple[list[RenderJob], dict[str, LabelContent], dict[str, str], list[RenderedPlanes]]:
        """A job per renderable label, the content of each item, why others cannot render, and
        blank images for unlinked labels (the benchmarks also call this, to render a store
        without the rest of the pipeline)."""
        targets = await render_targets(self.reader, device_ids)
        wanted = {t.sku for t in targets.values() if t.sku}
        items, unusable = await readable_items(self.reader, wanted)
        # Only a promotion's prior price needs the history (label_content's only use of it).
        promoted = {sku for sku, item in items.items() if item.promotion_at(now)}
        shelf = await applied_prices_of(self.reader, promoted) if promoted else {}
        shown = await shown_images(self.reader, device_ids)
        counted = await shelf_summaries(self.reader, list(items))
        contents: dict[str, LabelContent] = {}
        for sku, item in items.items():
            history = promotion_history(item, shelf) if sku in promoted else None
            on_shelf = counted[sku].state if sku in counted else None
            try:
                contents[sku] = label_content(item, self.context, now, history, on_shelf)
            except CONTENT_POISON as exc:
                log.exception("item %s cannot be shown on a label", sku)
                unusable[sku] = f"cannot be shown ({type(exc).__name__}: {exc})"
        jobs: list[RenderJob] = []
        problems: dict[str, str] = {}
        blanks: list[RenderedPlanes] = []
        for device_id in device_ids:
            target = targets.get(device_id)
            if target is None or not target.adopted:
                continue  # not ours (any more): nothing to show
            if target.sku is None:
                blanks.append(_blank(device_id, target.model))
                continue
            content = contents.get(target.sku)
            if target.sku in unusable:
                problems[device_id] = f"item {target.sku} {unusable[target.sku]}"[:500]
                continue
            if content is None:
                problems[device_id] = f"item {target.sku} is not in the catalog"
                continue
            try:
                model_name = model(ModelId(target.model)).name
            except ValueError:
                problems[device_id] = f"unknown model {target.model}"
                continue
            jobs.append(
                _job(
                    device_id,
                    content,
                    model_name=model_name,
                    template=target.template,
                    page=target.page,
                    shown=shown,
                )
            )
        return jobs, contents, problems, blanks


def _job(
    device_id: str,
    content: LabelContent,
    *,
    model_name: str,
    template: str | None,
    page: int,
    shown: dict[str, ShownImage],
) -> RenderJob:
    """A render job that also builds the label's transfer against what it shows now."""
    image = shown.get(device_id)
    return RenderJob(
        device_id,
        content,
        model_name,
        template,
        page,
        base=image.planes if image else None,
        base_hash=image.base_hash if image else None,
        with_payload=True,
        with_planes=False,
    )


def _blank(device_id: str, model_id: int) -> RenderedPlanes:
    panel = model(ModelId(model_id))
    planes = bytes(panel.frame_size)  # palette index 0, white, everywhere
    return RenderedPlanes(
        device_id,
        panel.name,
        None,
        1,
        planes,
        content_hash(planes),
        compressed=compress_planes(planes),
    )
