"""The controller's exception base."""

from __future__ import annotations


class ControllerError(Exception):
    """Something the controller cannot do as asked; the message says what and why."""
