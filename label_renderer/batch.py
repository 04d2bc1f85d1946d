"""Rendering many labels at once, across processes: a whole-store reprice.

A reprice renders every label of the store: tens of thousands of pages, each a few hundred
microseconds to a few milliseconds of Pillow and FreeType work that holds the GIL, so the batch
runs in worker processes, one per core. Three choices shape this module:

- Workers start from a "forkserver", never by forking the caller: the controller is a
  multi-threaded asyncio process, and a child forked while another thread holds a lock (the
  logging lock, an allocator's) can deadlock. The forkserver is a clean single-threaded process
  that has already imported the renderer; each worker's initializer then loads the templates,
  the fonts and the Babel locale data by rendering samples (~1.5 s for a pool, once). As with
  any forkserver or spawn pool, a script that uses one needs the `if __name__ == "__main__":`
  guard, since workers import the main module.
- An item always goes to the same worker (its SKU picks the worker), so the work that pays to
  cache stays cached where it is needed: the item's QR code (3-7 ms to generate with segno,
  microseconds to paste), its name's fitted layout and rendered text. With one shared queue,
  every worker would in time generate every QR code of the store, each one holding all of them.
  The price is balance: SKUs hashed over two workers split a store within a few percent.
- Jobs travel in chunks (`chunk_size`, default 32) so that pickling and the pipes stay a small
  part of the time, while the last chunk still finishes soon after the others.

A `RenderError` (a price that does not fit, a bad GTIN, an unknown template or model) fails only
its own job: its `RenderedPlanes` carries the error and the other jobs still render. Any other
exception is a bug and propagates from `render`.

`BatchRenderer(workers=1)` renders in the calling process, without a pool: for a handful of labels
a pool's start-up and the pipes cost more than they save. Its caches warm as it renders.

Workers die with the process that opened the pool, even when it is killed with SIGKILL and has
no chance to shut them down. Nothing in multiprocessing does that for us: a worker waits on its
call queue, whose write end it holds itself; the forkserver exits only once every holder of its
"alive" pipe is gone, and each worker holds one; the resource tracker exits when its pipe has no
writer left. So each worker watches its owner's pidfd from a thread and exits when the owner has
ended; then the forkserver and the resource tracker see their pipes close and exit too.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Self

from firmware_protocol.models import LABEL_MODELS, DeviceModel
from firmware_protocol.planes import content_hash
from firmware_protocol.transfer import ImagePayload, compress_planes, image_payload
from label_renderer.content import LabelContent
from label_renderer.errors import RenderError
from label_renderer.library import packaged_template, panel_of, template_for, template_names
from label_renderer.render import render_label
from label_renderer.samples import LOCALES, sample_content

DEFAULT_CHUNK = 32


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One page to render: `key` is the caller's own id for it (a label id, say)."""

    key: str
    content: LabelContent
    model: str  # a label model name, e.g. "epd290-bwr"
    template: str | None = None  # None: the default template of the content's price kind
    page: int = 1
    # A controller's transfer, built here rather than on its event loop: with `with_payload`
    # the result carries the image's payload (firmware_protocol.transfer.image_payload), a
    # delta against `base` (the zlib stream of the planes the label shows) when that is
    # smaller; without `with_planes` the 9.5 KB of raw planes stay here (the controller keeps
    # only the compressed stream).
    base: bytes | None = None
    base_hash: bytes | None = None  # the caller's own note of what `base` is; not used here
    with_payload: bool = False
    with_planes: bool = True


@dataclass(frozen=True, slots=True)
class RenderedPlanes:
    """A job's bit planes and content hash (PROTOCOL.md §5.1), or why it could not render."""

    key: str
    model: str
    template: str | None  # the template drawn; the requested one if choosing it failed
    page: int
    planes: bytes = b""
    content_hash: bytes = b""
    error: str | None = None
    compressed: bytes = b""  # the planes' zlib stream (what the controller stores and offers)
    payload: ImagePayload | None = None  # the transfer, if the job asked for it

    @property
    def ok(self) -> bool:
        return self.error is None


@lru_cache(maxsize=64)
def _label_model(name: str) -> DeviceModel:
    for candidate in LABEL_MODELS:
        if candidate.name == name:
            return candidate
    known = ", ".join(m.name for m in LABEL_MODELS)
    raise RenderError(f"unknown label model {name!r}; known: {known}")


def _describe(exc: RenderError) -> str:
    where = "/".join(part for part in (exc.template, exc.element) if part)
    return f"{where}: {exc}" if where else str(exc)


def render_job(job: RenderJob) -> RenderedPlanes:
    """Render one job in this process; a RenderError becomes the result's `error`."""
    template_name = job.template
    try:
        model = _label_model(job.model)
        template = template_for(model, job.content, job.template)
        template_name = template.name
        planes = render_label(job.content, template, model, job.page).planes()
    except RenderError as exc:
        return RenderedPlanes(job.key, job.model, template_name, job.page, error=_describe(exc))
    # Here, in the worker, not in the controller's loop: compression, hashes, the delta.
    compressed = compress_planes(planes)
    payload = _payload(planes, compressed, job.base) if job.with_payload else None
    return RenderedPlanes(
        job.key,
        job.model,
        template_name,
        job.page,
        planes if job.with_planes else b"",
        payload.content_hash if payload else content_hash(planes),
        compressed=compressed,
        payload=payload,
    )


def _payload(planes: bytes, compressed: bytes, base: bytes | None) -> ImagePayload:
    """The transfer of `planes`: a delta against `base` if smaller, else the full frame. A base
    that does not inflate (a damaged stored image) only costs the delta."""
    shown = None
    if base is not None:
        try:
            shown = zlib.decompress(base)
        except zlib.error:
            shown = None
    return image_payload(planes, base=shown, compressed=compressed)


def render_jobs(jobs: Sequence[RenderJob]) -> list[RenderedPlanes]:
    """Render a chunk of jobs in this process, in order (what each worker runs)."""
    return [render_job(job) for job in jobs]


def warm_up() -> None:
    """Load templates, fonts and locale data by rendering samples with every template.

    Warming is best effort: a sample that a template cannot show (a name too long for a template
    that forbids truncation, say) is skipped here, and the same error will be reported for any
    real job that hits it.
    """
    samples = [
        sample_content(locale, kind)
        for locale in LOCALES
        for kind in ("normal", "promotion", "clearance", "long")
    ]
    panels: dict[str, DeviceModel] = {}
    for model in LABEL_MODELS:
        panels.setdefault(panel_of(model), model)
    for model in panels.values():
        for name in template_names(model):
            template = packaged_template(model.name, name)
            for content in samples:
                try:
                    render_label(content, template, model).planes()
                except RenderError:
                    continue


def _ready() -> int:
    return os.getpid()


ORPHANED_EXIT = 70  # a worker whose owner ended (EX_SOFTWARE): nobody reads this status
OWNER_POLL_S = 1.0  # only where pidfds are missing (not Linux, or a kernel before 5.3)


def _wait_for_exit(pid: int) -> None:
    """Block until process `pid` has ended."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfds here: poll the pid instead
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(OWNER_POLL_S)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)  # readable once the process has exited
    poller.poll()


def _exit_with_owner(owner_pid: int) -> None:
    _wait_for_exit(owner_pid)
    # os._exit, not sys.exit: this is not the main thread, and the worker may be deep in Pillow.
    os._exit(ORPHANED_EXIT)


def start_worker(owner_pid: int) -> None:
    """A worker's initializer: die with the pool's owner (see the module docstring), then
    warm up."""
    threading.Thread(
        target=_exit_with_owner, args=(owner_pid,), name="owner-watch", daemon=True
    ).start()
    warm_up()


def _worker_context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # no forkserver on Windows
    context = multiprocessing.get_context("forkserver")
    # Import the renderer once in the forkserver, so each worker starts with it loaded; this only
    # has an effect if the forkserver is not running yet, and adds a module to an existing list.
    context.set_forkserver_preload(["label_renderer.batch"])
    return context


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class BatchRenderer:
    """Renders jobs across `workers` processes (default: one per core); use it as a context.

    `render(jobs)` returns one `RenderedPlanes` per job, in input order; `render_iter(jobs)`
    yields them in input order as they complete, so a caller can publish the first labels of a
    large reprice while the rest render and needs not hold every frame in memory.
    """

    def __init__(self, workers: int | None = None, *, chunk_size: int = DEFAULT_CHUNK) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
        self.workers = workers or default_workers()
        self.chunk_size = chunk_size
        self._pools: list[ProcessPoolExecutor] = []

    def __enter__(self) -> Self:
        if self.workers > 1:
            context = _worker_context()
            self._pools = [
                ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=context,
                    initializer=start_worker,
                    initargs=(os.getpid(),),
                )
                for _ in range(self.workers)
            ]
            # Start every worker now, in parallel, so the first batch does not pay for it.
            for ready in [pool.submit(_ready) for pool in self._pools]:
                ready.result()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        pools, self._pools = self._pools, []
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def render(self, jobs: Iterable[RenderJob]) -> list[RenderedPlanes]:
        return list(self.render_iter(jobs))

    def render_iter(self, jobs: Iterable[RenderJob]) -> Iterator[RenderedPlanes]:
        jobs = list(jobs)
        if not self._pools:
            if self.workers > 1:
                raise RuntimeError("BatchRenderer is not open: use it as a context manager")
            for job in jobs:
                yield render_job(job)
            return
        yield from self._across_workers(jobs)

    def _across_workers(self, jobs: list[RenderJob]) -> Iterator[RenderedPlanes]:
        shards: list[list[int]] = [[] for _ in self._pools]
        for index, job in enumerate(jobs):
            shards[zlib.crc32(job.content.sku.encode()) % len(shards)].append(index)
        # Chunks in input order, alternating between workers, each remembering its job indices.
        pending: list[tuple[list[int], Future[list[RenderedPlanes]]]] = []
        for pool, indices in zip(self._pools, shards, strict=True):
            for start in range(0, len(indices), self.chunk_size):
                chunk = indices[start : start + self.chunk_size]
                pending.append((chunk, pool.submit(render_jobs, [jobs[i] for i in chunk])))
        pending.sort(key=lambda item: item[0][0])
        done: dict[int, RenderedPlanes] = {}
        next_index = 0
        try:
            for chunk, future in pending:
                done.update(zip(chunk, future.result(), strict=True))
                while next_index in done:
                    yield done.pop(next_index)
                    next_index += 1
        finally:
            for _, future in pending:
                future.cancel()
