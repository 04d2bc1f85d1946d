"""The batch API: a real process pool renders exactly what render_label renders, in input order,
and a job that cannot render reports its own error without costing the others theirs."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from firmware_protocol.models import model_by_name
from firmware_protocol.planes import content_hash
from label_renderer import LabelContent, Money, render_label, template_for
from label_renderer.batch import BatchRenderer, RenderedPlanes, RenderJob
from label_renderer.samples import LOCALES, SAMPLE_KINDS, sample_content

MODELS = ("epd290-bwr", "epd290-bw", "epd213-bwy", "epd154-bwr")


@pytest.fixture(scope="module")
def pool() -> Iterator[BatchRenderer]:
    """Two forkserver workers, with small chunks so that every worker gets several."""
    with BatchRenderer(workers=2, chunk_size=3) as batch:
        yield batch


def _jobs() -> list[RenderJob]:
    jobs = []
    for number, (locale, kind, model) in enumerate(
        (locale, kind, model) for locale in LOCALES for kind in SAMPLE_KINDS for model in MODELS
    ):
        content = replace(sample_content(locale, kind), sku=f"SKU-{number}")  # spread workers
        template = "standard" if number % 3 == 0 else None  # named and default templates
        jobs.append(RenderJob(f"label-{number}", content, model, template))
    return jobs


def _in_process(job: RenderJob) -> tuple[bytes, bytes, str]:
    model = model_by_name(job.model)
    template = template_for(model, job.content, job.template)
    image = render_label(job.content, template, model, job.page)
    return image.planes(), image.content_hash, template.name


def test_jobs_pickle_unchanged() -> None:
    """RenderJob and LabelContent (frozen, slotted dataclasses) survive pickling unchanged."""
    for job in _jobs():
        assert pickle.loads(pickle.dumps(job)) == job


def test_pool_renders_what_render_label_renders(pool: BatchRenderer) -> None:
    """Across workers, every job's planes, hash and template equal render_label's, in order."""
    jobs = _jobs()
    results = pool.render(jobs)
    assert [r.key for r in results] == [j.key for j in jobs]
    for job, result in zip(jobs, results, strict=True):
        planes, digest, template = _in_process(job)
        assert result.error is None, result.error
        assert (result.model, result.template, result.page) == (job.model, template, job.page)
        assert result.planes == planes
        assert result.content_hash == digest == content_hash(planes)


def _broken(jobs: list[RenderJob]) -> dict[str, RenderJob]:
    """Four jobs that cannot render, each for a different reason, placed among good ones."""
    base = jobs[0].content
    bad_gtin: LabelContent = replace(base, gtin="8690504012346")  # wrong check digit
    huge = Decimal("9" * 30 + ".99")  # beyond Babel's decimal precision
    huge_price = replace(base, price=Money(huge, base.price.currency))
    return {
        "bad-gtin": RenderJob("bad-gtin", bad_gtin, "epd290-bwr", "standard"),
        "huge-price": RenderJob("huge-price", huge_price, "epd290-bwr", "standard"),
        "no-template": RenderJob("no-template", base, "epd290-bwr", "no-such-template"),
        "no-model": RenderJob("no-model", base, "epd999-bwr"),
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_a_render_error_fails_only_its_job(pool: BatchRenderer, workers: int) -> None:
    """A RenderError becomes that job's error; the jobs around it still render, in order."""
    good = _jobs()[:12]
    broken = _broken(good)
    jobs = [*good[:3], broken["bad-gtin"], *good[3:7], broken["huge-price"]]
    jobs += [broken["no-template"], *good[7:], broken["no-model"]]
    if workers == 1:
        with BatchRenderer(workers=1) as batch:
            results = batch.render(jobs)
    else:
        results = pool.render(jobs)
    assert [r.key for r in results] == [j.key for j in jobs]
    by_key: dict[str, RenderedPlanes] = {r.key: r for r in results}
    for job in good:
        assert by_key[job.key].ok
        assert by_key[job.key].planes == _in_process(job)[0]
    errors = {key: by_key[key].error or "" for key in broken}
    assert "check digit" in errors["bad-gtin"]
    assert "cannot format" in errors["huge-price"]
    assert "no-such-template" in errors["no-template"]
    assert "epd999-bwr" in errors["no-model"]
    for key in broken:
        assert not by_key[key].ok
        assert (by_key[key].planes, by_key[key].content_hash) == (b"", b"")
    assert errors["bad-gtin"].startswith("standard/barcode: ")  # where it failed


def test_render_iter_yields_in_input_order(pool: BatchRenderer) -> None:
    """render_iter yields the same results as render, one by one, in input order."""
    jobs = _jobs()[:20]
    assert list(pool.render_iter(jobs)) == pool.render(jobs)
