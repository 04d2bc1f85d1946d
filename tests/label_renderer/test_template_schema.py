"""Template validation: every mistake is one TemplateError that names the field at fault."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any, get_args

import pytest

from firmware_protocol.models import LABEL_MODELS, model_by_name
from label_renderer import TemplateError, packaged_template, parse_template, render_label
from label_renderer.library import panel_of
from label_renderer.render import _CONDITIONS
from label_renderer.samples import sample_content
from label_renderer.template import Condition
from tests.label_renderer.renders import kitchen_sink, kitchen_sink_json

SHIPPED = sorted(
    (folder.name, entry.name.removesuffix(".json"))
    for folder in resources.files("label_renderer").joinpath("templates").iterdir()
    if folder.is_dir()
    for entry in folder.iterdir()
    if entry.name.endswith(".json")
)


def _parse(data: dict[str, Any]) -> None:
    parse_template(json.dumps(data), source="bad.json")


def _with_element(**element: Any) -> dict[str, Any]:
    data = copy.deepcopy(kitchen_sink_json())
    data["pages"][0]["elements"].append(element)
    return data


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(TemplateError) as caught:
        _parse(data)
    return str(caught.value)


def test_kitchen_sink_template_is_valid() -> None:
    """The test template using every element type parses (the negative cases start from it)."""
    assert {e.type for page in kitchen_sink().pages for e in page.elements} == {
        "text", "price", "prior_price_note", "unit_price", "qr", "barcode", "rating",
        "stock_badge", "promo_badge", "icon", "image", "rect", "line",
    }  # fmt: skip


def test_unknown_element_type() -> None:
    """An element type the schema lacks is refused, naming where it is and the bad tag."""
    message = _error(_with_element(type="marquee", x=0, y=0, w=10, h=10))
    assert message.startswith("bad.json: ")
    assert "pages.0.elements.9" in message
    assert "'marquee'" in message


def test_element_outside_the_panel() -> None:
    """An element reaching past the panel's edge is refused, naming it and the panel size."""
    message = _error(_with_element(type="line", id="rule", x=250, y=10, w=60, h=1))
    assert "element rule at 250,10 size 60x1 leaves the 296x128 panel" in message


def test_min_size_larger_than_size() -> None:
    """min_size above size is refused, naming both values and the element."""
    message = _error(
        _with_element(type="text", field="name", x=0, y=0, w=100, h=20, size=10, min_size=14)
    )
    assert "pages.0.elements.9.text" in message
    assert "min_size 14 is larger than size 10" in message


@pytest.mark.parametrize("sources", [{"field": "name", "text": "Ekmek"}, {}])
def test_text_needs_exactly_one_of_field_and_text(sources: dict[str, str]) -> None:
    """A text element with both 'field' and 'text', or with neither, is refused."""
    message = _error(_with_element(type="text", x=0, y=0, w=100, h=20, size=10, **sources))
    assert "pages.0.elements.9.text" in message
    assert "exactly one of 'field' and 'text'" in message


def test_unknown_key_is_refused() -> None:
    """A misspelt attribute is an error, not silently ignored (extra='forbid')."""
    message = _error(_with_element(type="qr", x=0, y=0, w=50, h=50, bordr=2))
    assert "pages.0.elements.9.qr.bordr" in message


def test_unknown_condition_and_field_are_named() -> None:
    """A 'when' condition or a text field outside the schema is refused with its location."""
    message = _error(
        _with_element(type="text", field="colour", x=0, y=0, w=50, h=20, size=10, when=["sunny"])
    )
    assert "pages.0.elements.9.text.field" in message
    assert "pages.0.elements.9.text.when.0" in message


def test_invalid_json() -> None:
    """Text that is not JSON raises TemplateError with the source and the position."""
    with pytest.raises(TemplateError, match=r"bad\.json: not valid JSON: .*line 1 column 14"):
        parse_template('{"name": "x",', source="bad.json")


def test_template_for_another_panel_size_is_refused_at_render() -> None:
    """Rendering a 296x128 template on a 250x122 model raises TemplateError naming both."""
    with pytest.raises(TemplateError, match=r"is 296x128, model epd213-bwr is 250x122") as caught:
        render_label(sample_content("tr-TR", "normal"), kitchen_sink(), model_by_name("epd213-bwr"))
    assert caught.value.template == "kitchen-sink"


@pytest.mark.parametrize("page", [0, 3, -1])
def test_page_out_of_range(page: int) -> None:
    """A page number outside 1..len(pages) raises TemplateError naming the range."""
    with pytest.raises(TemplateError, match=rf"has pages 1\.\.2, not {page}"):
        render_label(
            sample_content("tr-TR", "normal"), kitchen_sink(), model_by_name("epd290-bw"), page
        )


def test_unknown_model_and_missing_template() -> None:
    """packaged_template names the known models or the known templates of the panel."""
    with pytest.raises(TemplateError, match=r"unknown label model 'epd999'.*epd290-bwr"):
        packaged_template("epd999", "standard")
    with pytest.raises(
        TemplateError, match=r"no template 'nosuch' for epd290-bw; known: .*standard"
    ):
        packaged_template("epd290-bw", "nosuch")


# Conditions that can never hold together: elements carrying such a pair may share an id.
EXCLUSIVE = [
    {"unit_price", "no_unit_price"},
    {"prior_price", "no_prior_price"},
    {"reduced", "not_reduced"},
    {"image", "no_image"},
    {"stock", "no_stock"},
    {"normal", "promotion"},
    {"normal", "clearance"},
    {"promotion", "clearance"},
    {"normal", "reduced"},
]


def _exclusive(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return any(
        pair <= set(a) | set(b) and not pair <= set(a) and not pair <= set(b) for pair in EXCLUSIVE
    )


@pytest.mark.parametrize(("panel", "name"), SHIPPED, ids=[f"{p}/{n}" for p, n in SHIPPED])
def test_shipped_template_is_consistent(panel: str, name: str) -> None:
    """A shipped template parses, is named after its file, fits its folder's panel, and two
    elements share an id only when their conditions exclude each other (regions are by id)."""
    models = [m for m in LABEL_MODELS if panel_of(m) == panel]
    assert models, f"templates/{panel}/ is not a panel of any label model"
    template = packaged_template(models[0].name, name)
    assert template.name == name
    assert template.panel == panel
    assert {(template.width, template.height)} == {(m.width, m.height) for m in models}
    for page in template.pages:
        named = [e for e in page.elements if e.id is not None]
        clashes = [
            a.id
            for i, a in enumerate(named)
            for b in named[i + 1 :]
            if a.id == b.id and not _exclusive(a.when, b.when)
        ]
        assert not clashes, f"page {page.name}: ids drawn twice: {clashes}"


def test_every_condition_a_template_may_name_is_implemented():
    """Each `when` condition the schema accepts has a predicate in the renderer, and no more."""
    assert set(get_args(Condition)) == set(_CONDITIONS)
