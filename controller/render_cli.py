"""`omnishelf render`: one catalog item file -> the PNG a label shows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext, label_content
from firmware_protocol.models import LABEL_MODELS
from label_renderer import RenderError, render_label, template_for
from label_renderer.locales import SUPPORTED_LOCALES

console = Console(stderr=True, soft_wrap=True)


def validation_problems(exc: ValidationError) -> list[str]:
    """One line per problem, naming the field: "promotion.price: Input should be ..."."""
    return [
        f"{'.'.join(str(p) for p in err['loc']) or '(item)'}: {err['msg']}" for err in exc.errors()
    ]


def load_item(path: Path) -> CatalogItem:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {path}: {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        return CatalogItem.model_validate_json(text)
    except ValidationError as exc:
        for line in validation_problems(exc):
            console.print(f"[red]{path}: {line}[/red]")
        raise typer.Exit(2) from exc


def _model_names() -> list[str]:
    return [m.name for m in LABEL_MODELS]


def render(
    item_file: Annotated[Path | None, typer.Argument(metavar="ITEM.json")] = None,
    model: Annotated[str, typer.Option(help="label model, see --list-models")] = "epd290-bwr",
    template: Annotated[
        str | None, typer.Option(help="template name, or a path to a template .json")
    ] = None,
    locale: Annotated[str | None, typer.Option(help=", ".join(SUPPORTED_LOCALES))] = None,
    page: Annotated[int, typer.Option(min=1, max=7)] = 1,
    scale: Annotated[int, typer.Option(min=1, max=16, help="enlarge for a preview")] = 1,
    at: Annotated[
        datetime | None, typer.Option(help="render as of this time (default: now)")
    ] = None,
    store: Annotated[str, typer.Option(help="store id, used in the QR URL")] = "store-1",
    qr_base: Annotated[str, typer.Option(help="URL prefix of the QR link")] = (
        "https://store.example"
    ),
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    list_models: Annotated[bool, typer.Option("--list-models", help="list model ids")] = False,
) -> None:
    """Render a catalog item (docs/catalog.md) to the PNG its label shows."""
    if list_models:
        for name in _model_names():
            typer.echo(name)
        return
    if item_file is None or output is None:
        console.print("[red]give ITEM.json and -o OUT.png (or --list-models)[/red]")
        raise typer.Exit(2)
    if model not in _model_names():
        console.print(f"[red]unknown model {model!r}; known: {', '.join(_model_names())}[/red]")
        raise typer.Exit(2)
    if locale is not None and locale not in SUPPORTED_LOCALES:
        console.print(f"[red]unknown locale {locale!r}; known: {', '.join(SUPPORTED_LOCALES)}")
        raise typer.Exit(2)
    item = load_item(item_file)
    if locale is not None:
        item = item.model_copy(update={"locale": locale})
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a bare --at means the machine's local time
    panel = next(m for m in LABEL_MODELS if m.name == model)
    content = label_content(item, StoreContext(store, base_url=qr_base), moment)
    try:
        image = render_label(content, template_for(panel, content, template), panel, page)
    except RenderError as exc:
        console.print(f"[red]cannot render {item_file}: {exc}[/red]")
        raise typer.Exit(1) from exc
    output.write_bytes(image.png(scale=scale))
    console.print(
        f"{output}: {panel.name} {image.template} page {page}, "
        f"{image.image.width * scale}x{image.image.height * scale}, "
        f"content hash {image.content_hash.hex()}"
    )
