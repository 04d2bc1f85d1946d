"""`omnishelf render`: an item file becomes the device-resolution PNG; bad input is explained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from controller.cli import app
from firmware_protocol.models import LABEL_MODELS

EXAMPLES = Path(__file__).parents[2] / "examples" / "items"
runner = CliRunner()


def test_list_models_prints_one_model_id_per_line():
    """--list-models prints every label model id and nothing else."""
    result = runner.invoke(app, ["render", "--list-models"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [m.name for m in LABEL_MODELS]


def test_renders_device_resolution_and_scaled_preview(tmp_path):
    """The PNG has the panel's size and palette colours; --scale K enlarges it K times."""
    item = EXAMPLES / "tr-peynir-normal.json"
    out = tmp_path / "label.png"
    result = runner.invoke(app, ["render", str(item), "--model", "epd290-bwr", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as shown:
        assert shown.size == (296, 128)
        colours = {rgb for _, rgb in shown.convert("RGB").getcolors(maxcolors=16) or []}
    assert colours <= {(255, 255, 255), (0, 0, 0), (204, 0, 0)}
    big = tmp_path / "big.png"
    args = ["render", str(item), "--model", "epd420-bw", "--scale", "3", "-o", str(big)]
    assert runner.invoke(app, args).exit_code == 0
    with Image.open(big) as shown:
        assert shown.size == (1200, 900)


def test_same_item_renders_identical_bytes(tmp_path):
    """Rendering twice gives byte-identical PNGs (the content hash is reproducible)."""
    item = str(EXAMPLES / "az-cay-promotion.json")
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for out in (first, second):
        args = ["render", item, "--at", "2026-11-22T12:00:00+00:00", "-o", str(out)]
        assert runner.invoke(app, args).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_invalid_item_names_each_bad_field(tmp_path):
    """An invalid item exits 2 and names every bad field with its reason."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sku": "x y", "name": "Çay", "currency": "TRY", "price": "1.999"}))
    result = runner.invoke(app, ["render", str(bad), "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2
    assert "sku: String should match pattern" in result.output
    assert "price: Value error, has more than two decimals" in result.output
    assert not (tmp_path / "o.png").exists()


def test_unknown_model_template_and_page_are_refused(tmp_path):
    """Unknown model (exit 2), unknown template and a page out of range (exit 1) say why."""
    item = str(EXAMPLES / "tr-peynir-normal.json")
    out = str(tmp_path / "o.png")
    unknown = runner.invoke(app, ["render", item, "--model", "epd999", "-o", out])
    assert unknown.exit_code == 2
    assert "unknown model 'epd999'" in unknown.output
    no_template = runner.invoke(app, ["render", item, "--template", "nosuch", "-o", out])
    assert no_template.exit_code == 1
    assert "no template 'nosuch'" in no_template.output
    no_page = runner.invoke(app, ["render", item, "--page", "7", "-o", out])
    assert no_page.exit_code == 1
    assert "not 7" in no_page.output


def test_console_script_runs(tmp_path):
    """The installed `omnishelf` entry point renders too (no test-only code path)."""
    out = tmp_path / "label.png"
    script = Path(sys.executable).with_name("omnishelf")
    item = str(EXAMPLES / "en-coffee-promotion.json")
    done = subprocess.run(
        [str(script), "render", item, "--model", "epd750-bwy", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(out) as shown:
        assert shown.size == (800, 480)
