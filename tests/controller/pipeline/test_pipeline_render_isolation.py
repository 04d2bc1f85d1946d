"""The render stage with the real render pool: one label whose render raises (not a RenderError:
a bug, or content no template can format) does not fail its round; it comes back as that
label's error, which the round records as its problem, and the others are rendered."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from controller.catalog.labels import StoreContext
from controller.pipeline.render_stage import PreparedRound, RenderStage
from controller.state.database import open_database
from controller.state.labels_repo import Priority
from controller.state.render_queue import QueuedRender
from label_renderer.batch import BatchRenderer, RenderJob
from label_renderer.content import LabelContent, Money

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


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
