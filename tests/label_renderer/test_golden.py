"""Golden images: every default label, pixel for pixel, as approved.

One palette PNG at device resolution per model x default template x locale x page, in
golden/<model>/<template>-<locale>-p<page>.png. The decoded pixel indices and the palette are
compared, never the PNG bytes, so a different zlib or Pillow version cannot fail a test.

To (re)create goldens after an intended change of a template or the renderer:

    OMNISHELF_UPDATE_GOLDEN=1 .venv/bin/pytest tests/label_renderer/test_golden.py

That run writes the files and fails every test it wrote for, so an update can never pass
silently; look at the new PNGs (git diff shows them), then run again without the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from label_renderer import LabelImage
from tests.label_renderer.renders import COMBOS, Combo, page_count, render_pages

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("OMNISHELF_UPDATE_GOLDEN") == "1"
HOW_TO_UPDATE = "OMNISHELF_UPDATE_GOLDEN=1 .venv/bin/pytest tests/label_renderer/test_golden.py"

CASES = tuple((combo, page) for combo in COMBOS for page in range(1, page_count(combo) + 1))


def golden_path(combo: Combo, page: int) -> Path:
    return GOLDEN / combo.model.name / f"{combo.template}-{combo.locale}-p{page}.png"


def _difference(image: LabelImage, golden: Image.Image) -> str:
    """Where the render and the golden differ, for the failure message."""
    actual = image.pixels()
    expected = golden.tobytes()
    width = image.image.width
    wrong = [i for i, (a, b) in enumerate(zip(actual, expected, strict=True)) if a != b]
    xs = [i % width for i in wrong]
    ys = [i // width for i in wrong]
    return f"{len(wrong)} pixels differ, within x {min(xs)}..{max(xs)}, y {min(ys)}..{max(ys)}"


@pytest.mark.parametrize(
    ("combo", "page"), CASES, ids=[f"{combo.id}-p{page}" for combo, page in CASES]
)
def test_render_equals_golden(combo: Combo, page: int, tmp_path: Path) -> None:
    """The rendered page equals its golden PNG pixel for pixel, palette included."""
    image = render_pages(combo)[page - 1]
    path = golden_path(combo, page)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image.png())
        pytest.fail(f"golden written, re-run without OMNISHELF_UPDATE_GOLDEN: {path.name}")
    if not path.is_file():
        pytest.fail(
            f"no golden {path.relative_to(GOLDEN)}; look at the render, then create it with "
            f"{HOW_TO_UPDATE}"
        )
    assert combo.model.palette is not None
    colours = len(combo.model.palette.colours)
    with Image.open(path) as golden:
        golden.load()
    assert golden.mode == "P"
    assert golden.size == image.image.size
    assert golden.getpalette()[: 3 * colours] == image.image.getpalette()[: 3 * colours]
    if golden.tobytes() != image.pixels():
        actual = tmp_path / path.name
        actual.write_bytes(image.png())
        pytest.fail(f"{_difference(image, golden)}; the render is {actual}; {HOW_TO_UPDATE}")


def test_no_orphan_goldens() -> None:
    """Every golden file belongs to a current model x template x locale x page."""
    expected = {golden_path(combo, page) for combo, page in CASES}
    present = set(GOLDEN.rglob("*.png")) if GOLDEN.is_dir() else set()
    orphans = sorted(str(p.relative_to(GOLDEN)) for p in present - expected)
    assert not orphans, f"goldens for pages that no longer exist: {orphans}"
