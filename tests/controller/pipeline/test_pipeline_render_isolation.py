"""The render stage with the real render pool and SQLite: one label whose render or planning
raises (not a RenderError: a bug, content no template can format, a value the database refuses)
does not fail its round; that label gets a problem and leaves the queue, the others go on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext
from controller.pipeline import render_stage
from controller.pipeline.ingest import apply_changes
from controller.pipeline.render_stage import PreparedRound, RenderStage
from controller.state.database import open_database
from controller.state.devices_repo import bind, device
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.labels_repo import Priority, label_state
from controller.state.render_queue import QueuedRender, enqueue_labels, queued
from firmware_protocol.models import ModelId
from label_renderer.batch import BatchRenderer, RenderJob
from label_renderer.content import LabelContent, Money

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ITEM = {"sku": "TR-1", "name": "Gofret", "currency": "TRY", "price": "12.50"}
FACTS = BirthFacts("gw-1", ModelId.EPD290_BWR, 1, "1.0.0", 3000, 1024, 2, 60)


def _job(key: str, amount: str) -> RenderJob:
    content = LabelContent(
        sku=key, name="Gofret", locale="tr-TR", price=Money(Decimal(amount), "TRY")
    )
    return RenderJob(key, content, "epd290-bwr")


async def test_a_render_that_raises_costs_one_label_not_the_round(tmp_path: Path) -> None:
    """A job whose render raises ValueError in the pool becomes that label's error; the other
    jobs of the round render as usual."""
    async with open_database(tmp_path / "state.db") as conn:
        with BatchRenderer(1) as renderer:
            stage = RenderStage(conn, renderer, StoreContext("s1"), clock=lambda: NOW)
            jobs = [_job("lbl-1", "12.50"), _job("lbl-2", "Infinity"), _job("lbl-3", "9.90")]
            queued = [QueuedRender(j.key, Priority.SINGLE, False, "t", 1) for j in jobs]
            prepared = PreparedRound(queued, NOW, jobs, {}, {}, [])
            rendered = await stage.render(prepared)
    by_key = {r.key: r for r in rendered.results}
    assert by_key["lbl-1"].ok
    assert by_key["lbl-3"].ok
    assert not by_key["lbl-2"].ok
    assert by_key["lbl-2"].error is not None
    assert by_key["lbl-2"].error.startswith("ValueError")


async def test_a_label_whose_planning_fails_is_quarantined_and_the_round_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round whose planning raises for one label (a bug, a value the database refuses) is
    planned label by label: that label gets a problem and leaves the queue, the others get
    their pushes."""
    real = render_stage.plan_pushes

    async def plan_pushes(conn: Any, plans: list[Any], now: datetime) -> Any:
        if any(plan.device_id == "lbl-2" for plan in plans):
            raise ValueError("a value the database refuses")
        return await real(conn, plans, now)

    monkeypatch.setattr(render_stage, "plan_pushes", plan_pushes)
    labels = ["lbl-1", "lbl-2", "lbl-3"]
    async with open_database(tmp_path / "state.db") as conn:
        await apply_changes(conn, [Upsert(CatalogItem.model_validate(ITEM))], actor="t", at=NOW)
        for label in labels:
            await record_birth(conn, label, FACTS, NOW, adopt=True)
            await bind(conn, label, "TR-1", template=None, page=1, at=NOW, actor="t")
        await enqueue_labels(conn, labels, priority=Priority.SINGLE, reason="t", at=NOW)
        with BatchRenderer(1) as renderer:
            stage = RenderStage(conn, renderer, StoreContext("s1"), clock=lambda: NOW)
            result = await stage.run_round()
        assert result is not None
        assert (result.planned, result.failed) == (2, 1)
        assert await queued(conn) == 0
        broken = await device(conn, "lbl-2")
        assert broken is not None
        assert broken.problem is not None
        assert broken.problem.startswith("planning failed: ValueError")
        for label in ("lbl-1", "lbl-3"):
            state = await label_state(conn, label)
            assert state is not None
            assert state.desired_hash is not None
