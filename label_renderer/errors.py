"""The one exception family of the renderer."""

from __future__ import annotations


class RenderError(Exception):
    """A label could not be rendered; `template` and `element` say where."""

    def __init__(self, message: str, *, template: str | None = None, element: str | None = None):
        super().__init__(message)
        self.template = template
        self.element = element


class TemplateError(RenderError):
    """A template file is not valid JSON, breaks the schema or does not fit its panel."""


class ContentError(RenderError):
    """The content cannot be shown as asked (a GTIN with a wrong check digit, a bad image)."""
