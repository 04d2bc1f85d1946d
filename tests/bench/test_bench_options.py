"""`omnishelf bench`'s store options: size, render workers and the scale curve's sizes."""

from __future__ import annotations

from typer.testing import CliRunner

from bench import runner
from controller.cli import app


def test_the_command_line_changes_the_store_without_code() -> None:
    """--labels, --render-workers and --scale override the mode; the rest stays as it was."""
    mode = runner.choose_mode(quick=True, labels=2500, render_workers=6, scale=(5000, 1000, 1000))
    assert (mode.labels, mode.render_workers, mode.scale_stores) == (2500, 6, (1000, 5000))
    assert mode.idle_probes == runner.QUICK.idle_probes
    assert runner.shape(mode, 700).render_workers == 6
    assert runner.choose_mode(quick=False) == runner.FULL
    assert "scale" not in runner.DEFAULT_SCENARIOS  # the curve runs when asked for


def test_bad_sizes_and_scenarios_are_refused_before_anything_runs() -> None:
    """A non-number in --scale or an unknown --scenario: exit 2 with the reason."""
    cli = CliRunner()
    scale = cli.invoke(app, ["bench", "--scale", "1000,lots"])
    assert scale.exit_code == 2
    assert "comma-separated list of label counts" in scale.output
    unknown = cli.invoke(app, ["bench", "--scenario", "warp"])
    assert unknown.exit_code == 2
    assert "unknown scenario warp" in unknown.output
