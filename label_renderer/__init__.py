"""Label renderer: catalog content + template + panel model -> the image a label shows.

`render_label` draws one page (render.py); templates are JSON validated by template.py, with
defaults per panel in templates/ (library.py); prices and phrases are localized in locales.py;
the fonts ship in fonts/. Nothing here knows about MQTT, the database or the controller.
"""

from label_renderer.batch import BatchRenderer, RenderedPlanes, RenderJob
from label_renderer.content import (
    LabelContent,
    Money,
    PriceKind,
    Rating,
    StockBadge,
    Unit,
    UnitPrice,
)
from label_renderer.errors import ContentError, RenderError, TemplateError
from label_renderer.library import DEFAULT_TEMPLATES, packaged_template, template_for
from label_renderer.render import LabelImage, render_label, to_planes
from label_renderer.template import Template, parse_template

__all__ = [
    "DEFAULT_TEMPLATES",
    "BatchRenderer",
    "ContentError",
    "LabelContent",
    "LabelImage",
    "Money",
    "PriceKind",
    "Rating",
    "RenderError",
    "RenderJob",
    "RenderedPlanes",
    "StockBadge",
    "Template",
    "TemplateError",
    "Unit",
    "UnitPrice",
    "packaged_template",
    "parse_template",
    "render_label",
    "template_for",
    "to_planes",
]
