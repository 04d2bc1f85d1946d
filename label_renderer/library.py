"""The templates shipped with the package, one folder per panel.

`templates/epd290/promotion.json` serves every 2.9" model (BW, BWR and BWY). The default template
of an item follows its price kind: standard, promotion or clearance.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from firmware_protocol.models import LABEL_MODELS, DeviceModel
from label_renderer.content import LabelContent, PriceKind
from label_renderer.errors import TemplateError
from label_renderer.template import Template, load_template_file, parse_template

DEFAULT_TEMPLATES: dict[PriceKind, str] = {
    PriceKind.NORMAL: "standard",
    PriceKind.PROMOTION: "promotion",
    PriceKind.CLEARANCE: "clearance",
}


def panel_of(model: DeviceModel) -> str:
    """ "epd290-bwr" -> "epd290"."""
    return model.name.split("-", 1)[0]


def template_names(model: DeviceModel) -> tuple[str, ...]:
    folder = resources.files("label_renderer").joinpath("templates", panel_of(model))
    if not folder.is_dir():
        return ()
    return tuple(
        sorted(e.name.removesuffix(".json") for e in folder.iterdir() if e.name.endswith(".json"))
    )


@lru_cache(maxsize=256)
def packaged_template(model_name: str, name: str) -> Template:
    model = next((m for m in LABEL_MODELS if m.name == model_name), None)
    if model is None:
        known = ", ".join(m.name for m in LABEL_MODELS)
        raise TemplateError(f"unknown label model {model_name!r}; known: {known}")
    resource = resources.files("label_renderer").joinpath(
        "templates", panel_of(model), f"{name}.json"
    )
    if not resource.is_file():
        known = ", ".join(template_names(model)) or "none"
        raise TemplateError(f"no template {name!r} for {model.name}; known: {known}", template=name)
    return parse_template(resource.read_bytes(), source=f"{panel_of(model)}/{name}.json")


def template_for(model: DeviceModel, content: LabelContent, name: str | None = None) -> Template:
    """The named packaged template, a template file when `name` is a path, or the default."""
    if name is not None and (name.endswith(".json") or "/" in name):
        return load_template_file(Path(name))
    return packaged_template(model.name, name or DEFAULT_TEMPLATES[content.kind])
