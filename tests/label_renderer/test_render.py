"""render_label and to_planes: deterministic output, exact bit planes, crisp text, dithered photos.

These use the kitchen-sink test template (renders.py), so they hold whatever the shipped
templates look like.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace

import pytest
from PIL import Image

from firmware_protocol.models import LABEL_MODELS, DeviceModel, Palette, model_by_name
from firmware_protocol.planes import content_hash, pack_planes
from label_renderer import parse_template, render_label, to_planes
from label_renderer.samples import sample_content
from tests.label_renderer.renders import fingerprint, gradient_png, kitchen_sink

PALETTE_MODELS = ("epd290-bw", "epd290-bwr", "epd290-bwy")


def _indices(image: Image.Image) -> set[int]:
    return set(image.tobytes())


@pytest.mark.parametrize("name", PALETTE_MODELS)
def test_same_inputs_give_identical_output(name: str) -> None:
    """Rendering twice gives the same pixels, planes, content hash and PNG bytes."""
    m = model_by_name(name)
    content = replace(sample_content("az-AZ", "promotion"), image=gradient_png())
    for page in (1, 2):
        first = render_label(content, kitchen_sink(), m, page)
        again = render_label(content, kitchen_sink(), m, page)
        assert first.pixels() == again.pixels()
        assert first.planes() == again.planes()
        assert first.content_hash == again.content_hash == content_hash(first.planes())
        assert first.png() == again.png()
        assert first.png(scale=3) == again.png(scale=3)


def test_output_is_identical_in_a_fresh_process() -> None:
    """A new interpreter with another hash seed and cold caches renders the same bytes."""
    script = (
        "import json, sys\n"
        "from tests.label_renderer.renders import fingerprint\n"
        "print(json.dumps({name: fingerprint(name) for name in sys.argv[1:]}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run(
        [sys.executable, "-c", script, *PALETTE_MODELS],
        capture_output=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert json.loads(done.stdout) == {name: fingerprint(name) for name in PALETTE_MODELS}


@pytest.mark.parametrize("name", PALETTE_MODELS)
def test_planes_of_a_render_equal_the_protocol_packing(name: str) -> None:
    """LabelImage.planes() equals firmware_protocol.planes.pack_planes of its pixels."""
    m = model_by_name(name)
    for kind in ("promotion", "clearance", "minimal"):
        content = replace(sample_content("tr-TR", kind), image=gradient_png())
        for page in (1, 2):
            image = render_label(content, kitchen_sink(), m, page)
            assert image.planes() == pack_planes(image.pixels(), m)
            assert len(image.planes()) == m.frame_size


@pytest.mark.parametrize("m", LABEL_MODELS, ids=[m.name for m in LABEL_MODELS])
def test_to_planes_equals_pack_planes_on_random_pixels(m: DeviceModel) -> None:
    """For every model (widths not a multiple of 8 included) to_planes == pack_planes."""
    assert m.palette is not None
    colours = len(m.palette.colours)
    rng = random.Random(m.id)
    pixels = bytes(rng.randrange(colours) for _ in range(m.width * m.height))
    image = Image.frombytes("P", (m.width, m.height), pixels)
    assert to_planes(image, m) == pack_planes(pixels, m)


def _text_only(colour: str) -> str:
    elements = [
        {"type": "text", "field": "name", "x": 2, "y": 2, "w": 290, "h": 60, "size": 20,
         "min_size": 9, "max_lines": 3, "font": "bold", "colour": colour},
        {"type": "text", "text": "İğşçöü Əə ₺₼ 1.299,90", "x": 2, "y": 64, "w": 290, "h": 30,
         "size": 17, "colour": colour},
        {"type": "price", "x": 2, "y": 96, "w": 200, "h": 30, "size": 28, "decimals_size": 12,
         "colour": colour},
    ]  # fmt: skip
    return json.dumps(
        {"name": "text-only", "panel": "epd290", "width": 296, "height": 128,
         "pages": [{"name": "text", "elements": elements}]}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "colour", "ink"),
    [
        ("epd290-bw", "black", 1),
        ("epd290-bwr", "black", 1),
        ("epd290-bwr", "accent", 2),
        ("epd290-bwy", "accent", 2),
        ("epd290-bw", "accent", 1),  # no accent on a BW panel: black
    ],
)
def test_text_is_never_anti_aliased(name: str, colour: str, ink: int) -> None:
    """Text-only renders hold exactly white and the one ink index: no grey, no black fringe."""
    template = parse_template(_text_only(colour))
    content = sample_content("tr-TR", "long")
    image = render_label(content, template, model_by_name(name))
    assert _indices(image.image) == {0, ink}


@pytest.mark.parametrize("name", PALETTE_MODELS)
def test_photo_is_dithered_to_the_palette(name: str) -> None:
    """A grey-ramp photo becomes only palette indices, several of them, mixed in mid-tones."""
    m = model_by_name(name)
    assert m.palette is not None
    content = replace(sample_content("en-US", "normal"), image=gradient_png())
    image = render_label(content, kitchen_sink(), m, 2)
    box = image.regions["photo"]
    photo = image.image.crop((box.x, box.y, box.right, box.bottom))
    assert _indices(photo) <= set(range(len(m.palette.colours)))
    assert len(_indices(photo)) > 1
    # A threshold would give solid halves; Floyd-Steinberg mixes white and black mid-ramp.
    middle = photo.crop((photo.width // 3, 0, 2 * photo.width // 3, photo.height)).tobytes()
    share = middle.count(1) / len(middle)
    assert 0.2 < share < 0.8, share
    if m.palette is not Palette.BW:
        assert 2 in _indices(photo), "the red band should bring in the accent colour"
