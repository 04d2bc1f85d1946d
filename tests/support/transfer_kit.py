"""Shared samples and helpers for test_planes_transfer tests (split by concern)."""

from __future__ import annotations

import random

from hypothesis import settings

from firmware_protocol.models import DeviceModel, ModelId, model

PROPERTY = settings(max_examples=200, deadline=None)
EPD290_BWR = model(ModelId.EPD290_BWR)


def _random_pixels(m: DeviceModel, seed: int) -> bytes:
    """Palette indices 0..top spread over the whole panel."""
    assert m.palette is not None
    colours = len(m.palette.colours)
    table = bytes(i % colours for i in range(256))
    return random.Random(seed).randbytes(m.width * m.height).translate(table)
