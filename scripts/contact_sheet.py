"""Contact sheets of the default label templates: docs/labels/<panel>.png.

Every label model x default template (standard, promotion, clearance) x locale, every page, drawn
with the sample items of label_renderer.samples, plus the "long" and "minimal" samples in the
standard template. Each tile is exactly what the panel shows (small panels enlarged 2x with square
pixels), captioned with model, template, locale, sample and page.

Run from the repository root:

    .venv/bin/python scripts/contact_sheet.py [--out docs/labels] [--panel epd290 ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from firmware_protocol.models import LABEL_MODELS, DeviceModel
from label_renderer import LabelImage, packaged_template, render_label
from label_renderer.fonts import font
from label_renderer.library import panel_of
from label_renderer.samples import LOCALES, sample_content

# (heading, template, sample kinds): what each section of a sheet shows, one row per locale x kind.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("standard", "standard", ("normal",)),
    ("promotion", "promotion", ("promotion",)),
    ("clearance", "clearance", ("clearance",)),
    (
        "standard: long name, minimal item, sold by volume",
        "standard",
        ("long", "minimal", "volume"),
    ),
)
ENLARGE = {"epd154": 2, "epd213": 2, "epd290": 2}  # larger panels are shown at 1x

BACKGROUND = (236, 236, 232)
FRAME = (150, 150, 150)
CAPTION = (40, 40, 40)
HEADING = (0, 0, 0)
GAP = 16
MARGIN = 24
CAPTION_SIZE = 13
HEADING_SIZE = 22


@dataclass(frozen=True)
class Tile:
    caption: str
    picture: Image.Image  # RGB, already enlarged


def _tiles_for_row(
    models: Sequence[DeviceModel], template: str, locale: str, kind: str, scale: int
) -> list[Tile]:
    content = sample_content(locale, kind)
    tiles = []
    for model in models:
        chosen = packaged_template(model.name, template)
        pages = len(chosen.pages)
        for number, page in enumerate(chosen.pages, start=1):
            image: LabelImage = render_label(content, chosen, model, number)
            caption = (
                f"{model.name} · {template} · {locale} · {kind} · p{number}/{pages} {page.name}"
            )
            tiles.append(Tile(caption, image.rgb(scale)))
    return tiles


def _sheet(panel: str, models: Sequence[DeviceModel]) -> Image.Image:
    scale = ENLARGE.get(panel, 1)
    caption_font = font("regular", CAPTION_SIZE)
    heading_font = font("bold", HEADING_SIZE)
    caption_h = CAPTION_SIZE + 8
    sections: list[tuple[str, list[list[Tile]]]] = []
    for heading, template, kinds in SECTIONS:
        rows = [
            _tiles_for_row(models, template, locale, kind, scale)
            for kind in kinds
            for locale in LOCALES
        ]
        sections.append((heading, rows))
    tile_w = models[0].width * scale
    tile_h = models[0].height * scale
    columns = max(len(row) for _, rows in sections for row in rows)
    cell_w = max(tile_w + 2, int(max(caption_font.getlength(t.caption) for t in _all(sections))))
    width = 2 * MARGIN + columns * cell_w + (columns - 1) * GAP
    row_h = caption_h + tile_h + 2 + GAP
    heading_h = HEADING_SIZE + 18
    height = 2 * MARGIN + sum(heading_h + len(rows) * row_h for _, rows in sections)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    y = MARGIN
    for heading, rows in sections:
        title = f"{panel} ({models[0].width}x{models[0].height}) · {heading}"
        draw.text((MARGIN, y), title, font=heading_font, fill=HEADING)
        y += heading_h
        for row in rows:
            x = MARGIN
            for tile in row:
                draw.text((x, y), tile.caption, font=caption_font, fill=CAPTION)
                top = y + caption_h
                draw.rectangle([x, top, x + tile_w + 1, top + tile_h + 1], outline=FRAME)
                sheet.paste(tile.picture, (x + 1, top + 1))
                x += cell_w + GAP
            y += row_h
    return sheet


def _all(sections: Iterable[tuple[str, list[list[Tile]]]]) -> Iterable[Tile]:
    for _, rows in sections:
        for row in rows:
            yield from row


def _palette_image(sheet: Image.Image, models: Sequence[DeviceModel]) -> Image.Image:
    """The sheet in a small fixed palette: the panels' own colours plus greys for the captions.

    A palette PNG of flat colours compresses ~10x better than RGB, and the panels' colours are
    in the palette exactly, so every label pixel keeps its colour.
    """
    colours: list[tuple[int, int, int]] = []
    for model in models:
        assert model.palette is not None
        colours.extend(c for c in model.palette.colours if c not in colours)
    colours.extend(c for c in (BACKGROUND, FRAME) if c not in colours)
    greys = [(v, v, v) for v in range(0, 256, 17)]
    colours.extend(c for c in greys if c not in colours)
    flat = [channel for colour in colours for channel in colour]
    target = Image.new("P", (1, 1))
    target.putpalette(flat)
    return sheet.quantize(palette=target, dither=Image.Dither.NONE)


def write_sheets(out: Path, panels: Sequence[str] | None = None) -> list[Path]:
    by_panel: dict[str, list[DeviceModel]] = {}
    for model in LABEL_MODELS:
        by_panel.setdefault(panel_of(model), []).append(model)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for panel, models in by_panel.items():
        if panels and panel not in panels:
            continue
        sheet = _palette_image(_sheet(panel, models), models)
        path = out / f"{panel}.png"
        sheet.save(path, format="PNG", optimize=True)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("docs/labels"))
    parser.add_argument("--panel", action="append", help="only this panel (repeatable)")
    args = parser.parse_args(argv)
    for path in write_sheets(args.out, args.panel):
        sys.stdout.write(f"{path} ({path.stat().st_size // 1024} KB)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
