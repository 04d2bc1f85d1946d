"""bench/render_models.py: a row per label model, and a baseline that draws what it claims."""

from __future__ import annotations

import pytest
from PIL import Image

from bench import render_models
from bench.render_models import BaselineMismatch, Sizes, bench_template, measure
from bench.render_speed import BarePillow, BarePlan, reprice, store_items
from firmware_protocol.models import LABEL_MODELS, DeviceModel, model_by_name
from label_renderer import render_label
from label_renderer.library import packaged_template
from label_renderer.template import PriceElement, QrElement, TextElement

# The 1.54" panel's bench template comes from page 2 of its standard template; the 7.5" is the
# largest panel.
MODELS = (model_by_name("epd154-bwr"), model_by_name("epd750-bw"))


def test_a_tiny_run_has_a_row_per_model_with_positive_rates() -> None:
    """Every model gets one row, each rate measured (> 0) and every baseline label compared."""
    # One worker for "all cores": a pool's start-up (seconds) is tests/label_renderer's business.
    section = measure(MODELS, Sizes(items=3, reps=1), workers=1)
    assert section.scenario == "render"
    assert [row["model"] for row in section.rows] == [m.name for m in MODELS]
    for row in section.rows:
        assert row["labels"] > 0
        assert row["baseline_checked"] == row["labels"]
        for key in (
            "one_process_labels_s",
            "all_cores_labels_s",
            "bare_pillow_labels_s",
            "same_drawing_labels_s",
            "scaling",
            "vs_bare_pillow",
        ):
            assert row[key] > 0, key
    assert any("start-up" in note for note in section.notes)


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Dark pixels (index 1) inside an element's box."""
    x, y, w, h = box
    return image.crop((x, y, x + w, y + h)).histogram()[1]


@pytest.mark.parametrize("model", LABEL_MODELS, ids=lambda m: m.name)
def test_the_baseline_draws_name_price_and_qr_as_the_renderer_does(model: DeviceModel) -> None:
    """Per model: the panel's standard geometry, ink in each box, byte-identical to render_label."""
    template = bench_template(model)
    name, price, qr = template.pages[0].elements
    assert isinstance(name, TextElement)
    assert isinstance(price, PriceElement)
    assert isinstance(qr, QrElement)
    shipped = [
        (e.x, e.y, e.w, e.h)
        for page in packaged_template(model.name, "standard").pages
        for e in page.elements
    ]
    for element in (name, price, qr):
        assert (element.x, element.y, element.w, element.h) in shipped
    bare = BarePillow(template, model)
    for content in reprice(store_items(3, 700_000), seed=1)[:3]:
        theirs = bare.draw(bare.plan(content))
        ours = render_label(content, template, model).image
        assert theirs.size == (model.width, model.height)
        assert theirs.tobytes() == ours.tobytes()
        for element in (name, price, qr):
            assert _ink(theirs, (element.x, element.y, element.w, element.h)) > 0


def test_a_baseline_that_draws_other_pixels_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """If bare Pillow leaves out the QR code, the measurement stops instead of comparing."""
    real_draw = BarePillow.draw

    def without_qr(self: BarePillow, plan: BarePlan) -> Image.Image:
        image = real_draw(self, plan)
        image.paste(0, plan.qr_box)
        return image

    monkeypatch.setattr(BarePillow, "draw", without_qr)
    with pytest.raises(BaselineMismatch, match="differs from the renderer"):
        render_models.measure_baseline(MODELS[0], store_items(2, 0), [1, 2])
