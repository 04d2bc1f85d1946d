"""The simulator's one exception base."""

from __future__ import annotations


class SimulatorError(Exception):
    """The simulator cannot run as asked (a bad state file, a bad option)."""
