"""What labels display, as PNG: one label, or a whole store on a contact sheet."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageDraw

from device_sim.label import SimLabel


def displayed_image(label: SimLabel, page: int | None = None) -> Image.Image:
    """The panel as the shopper sees it, at device resolution (palette colours)."""
    palette = label.model.palette
    assert palette is not None
    image = Image.frombytes("P", (label.model.width, label.model.height), label.pixels(page))
    flat = [c for rgb in palette.colours for c in rgb]
    image.putpalette(flat + [0] * (768 - len(flat)))
    return image.convert("RGB")


def export_png(label: SimLabel, path: Path, page: int | None = None) -> Path:
    displayed_image(label, page).save(path, optimize=False)
    return path


def contact_sheet(labels: Iterable[SimLabel], path: Path, *, columns: int = 6) -> Path:
    """Every label's display in a grid with its id and revision underneath."""
    tiles = [(label, displayed_image(label)) for label in labels]
    if not tiles:
        raise ValueError("no labels to put on a contact sheet")
    cell_w = max(img.width for _, img in tiles) + 16
    cell_h = max(img.height for _, img in tiles) + 32
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (cell_w * min(columns, len(tiles)), cell_h * rows), (228, 228, 228))
    draw = ImageDraw.Draw(sheet)
    for n, (label, img) in enumerate(tiles):
        x, y = (n % columns) * cell_w + 8, (n // columns) * cell_h + 8
        sheet.paste(img, (x, y))
        draw.rectangle((x - 1, y - 1, x + img.width, y + img.height), outline=(90, 90, 90))
        draw.text((x, y + img.height + 4), f"{label.device_id} r{label.revision}", fill=(0, 0, 0))
    sheet.save(path)
    return path
