"""Every numeric option of the `omnishelf` command line is range-checked before anything runs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from controller.cli import app

OMNISHELF = Path(sys.executable).parent / "omnishelf"
NOT_CHECKED = {"bench"}  # a developer's tool: its options are flags, names and a path


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    children = getattr(command, "commands", None)
    if children:
        for name, child in children.items():
            yield from _commands(child, (*path, name))
    elif path[0] not in NOT_CHECKED:
        yield " ".join(path), command


def _numeric_options() -> list[tuple[str, Any]]:
    return [
        (f"{name} --{param.name.replace('_', '-')}", param)
        for name, command in _commands(typer.main.get_command(app))
        for param in command.params
        if param.type_descriptor.annotation in {int, float}
    ]


def test_finding_8_every_numeric_option_has_a_range() -> None:
    """Ports, counts, workers, intervals, seeds: each has a minimum and a maximum (a port of
    99999 used to reach the socket and end in a 90-line traceback)."""
    options = _numeric_options()
    assert len(options) > 15  # the walk found the commands' options
    unbounded = [name for name, param in options if param.min is None or param.max is None]
    assert unbounded == []


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--port", "99999"],
        ["demo", "--catalog-interval", "1e9"],
        ["sim", "--labels", "-1"],
        ["sim", "--seed", "-5"],
        ["broker", "--labels", "10000000"],
    ],
    ids=" ".join,
)
def test_finding_8_an_out_of_range_option_is_a_short_error(args: list[str]) -> None:
    """Out of range: exit 2 with the option named in a few lines, no traceback, nothing run."""
    result = subprocess.run(
        [str(OMNISHELF), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"Invalid value for '{args[1]}'" in output
    assert "Traceback" not in output
    assert len(output.splitlines()) < 10
