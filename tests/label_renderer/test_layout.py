"""The shipped default templates take any content: every sample kind renders, and nothing
(not even a name far too long for any label) leaves its element's box or the panel.

One model per panel size is enough here (the palettes rotate across them): the BW, BWR and
BWY variants of a panel share one template, and layout does not depend on colour.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image, ImageChops, ImageDraw

from firmware_protocol.models import DeviceModel
from label_renderer import LabelContent, LabelImage, Template, packaged_template, render_label
from label_renderer.canvas import Box
from label_renderer.content import StockBadge
from label_renderer.render import holds
from label_renderer.samples import SAMPLE_KINDS, sample_content
from label_renderer.template import TextElement
from tests.label_renderer.renders import LOCALES, ONE_PER_PANEL, TEMPLATE_SAMPLES

CASES = tuple(
    (m, template, locale)
    for m in ONE_PER_PANEL
    for template in TEMPLATE_SAMPLES
    for locale in LOCALES
)
IDS = [f"{m.name}-{template}-{locale}" for m, template, locale in CASES]


def _element_boxes(template: Template, page: int, content: LabelContent) -> dict[str, Box]:
    """The box of each element drawn for `content`, under the name render_label gives its
    region (alternatives may share an id, e.g. two "price" sizes told apart by `when`)."""
    return {
        element.id or f"{element.type}-{index}": Box(element.x, element.y, element.w, element.h)
        for index, element in enumerate(template.page(page).elements)
        if all(holds(condition, content) for condition in element.when)
    }


def _ink_outside(image: LabelImage, boxes: list[Box]) -> tuple[int, int, int, int] | None:
    """The bounding box of inked pixels outside every given box, or None."""
    ink = Image.frombytes("L", image.image.size, image.pixels()).point(lambda v: 255 if v else 0)
    allowed = Image.new("L", image.image.size, 0)
    draw = ImageDraw.Draw(allowed)
    for box in boxes:
        draw.rectangle([box.x, box.y, box.right - 1, box.bottom - 1], fill=255)
    return ImageChops.subtract(ink, allowed).getbbox()


def _distance(box: Box, ink: tuple[int, int, int, int]) -> int:
    """How far (in pixels, per axis, the larger) the ink bbox lies from a box."""
    left, top, right, bottom = ink
    dx = max(box.x - right + 1, left - box.right + 1, 0)
    dy = max(box.y - bottom + 1, top - box.bottom + 1, 0)
    return max(dx, dy)


def _check_page(content: LabelContent, template: Template, m: DeviceModel, page: int) -> list[str]:
    """Everything wrong with one rendered page, as readable lines."""
    assert m.palette is not None
    image = render_label(content, template, m, page)
    panel = Box(0, 0, m.width, m.height)
    boxes = _element_boxes(template, page, content)
    where = f"{content.sku} p{page}"
    problems = []
    if max(image.pixels()) >= len(m.palette.colours):
        problems.append(f"{where}: pixel index outside the {m.palette.name} palette")
    for name, region in image.regions.items():
        if not (boxes[name].contains(region) and panel.contains(region)):
            problems.append(f"{where}: {name} drew {region}, its box is {boxes[name]}")
    outside = _ink_outside(image, [boxes[name] for name in image.regions])
    if outside is not None:
        near = min(image.regions, key=lambda name: _distance(boxes[name], outside))
        problems.append(
            f"{where}: ink outside every drawn element's box at {outside}, next to {near} "
            f"({boxes[near]})"
        )
    return problems


@pytest.mark.parametrize(("m", "template_name", "locale"), CASES, ids=IDS)
def test_every_sample_kind_renders_inside_its_boxes(
    m: DeviceModel, template_name: str, locale: str
) -> None:
    """All six sample kinds (minimal with no optional field, a far too long name...) render
    on every page; regions and ink stay inside their element's box and the panel."""
    template = packaged_template(m.name, template_name)
    problems = []
    for kind in SAMPLE_KINDS:
        content = sample_content(locale, kind)
        for page in range(1, len(template.pages) + 1):
            problems += _check_page(content, template, m, page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("m", "template_name", "locale"), CASES, ids=IDS)
def test_long_name_is_fitted_not_dropped(m: DeviceModel, template_name: str, locale: str) -> None:
    """The long sample's name is drawn wherever the template shows the name, never left out."""
    template = packaged_template(m.name, template_name)
    content = sample_content(locale, "long")
    shown = 0
    for number, page in enumerate(template.pages, start=1):
        image = render_label(content, template, m, number)
        for index, element in enumerate(page.elements):
            is_name = isinstance(element, TextElement) and element.field == "name"
            if is_name and all(holds(condition, content) for condition in element.when):
                shown += 1
                region = element.id or f"text-{index}"
                assert region in image.regions, f"page {number}: {region} was not drawn"
    assert shown, f"{template_name} never shows the item's name"


@pytest.mark.parametrize(("m", "template_name", "locale"), CASES, ids=IDS)
def test_stock_shows_on_the_first_page(m: DeviceModel, template_name: str, locale: str) -> None:
    """A shopper sees low, out, online or pick-up on the page a label shows by default, for
    every sample kind, inside its box; with no stock state nothing takes its place."""
    template = packaged_template(m.name, template_name)
    problems = []
    for kind in SAMPLE_KINDS:
        for badge in StockBadge:
            content = replace(sample_content(locale, kind), stock=badge)
            image = render_label(content, template, m, 1)
            if "stock" not in image.regions:
                problems.append(f"{kind} {badge}: no stock badge on page 1")
            problems += _check_page(content, template, m, 1)
        plain = replace(sample_content(locale, kind), stock=None)
        if "stock" in render_label(plain, template, m, 1).regions:
            problems.append(f"{kind}: a stock region drawn with no stock state")
    assert not problems, "\n".join(problems)
