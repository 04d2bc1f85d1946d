"""Shared samples and helpers for test_label_state tests (split by concern)."""

from __future__ import annotations

import random

from device_sim.behaviour import Behaviour
from device_sim.label import SimLabel
from firmware_protocol.messages import (
    Message,
    Reported,
    ReportResult,
)
from firmware_protocol.models import ModelId, model
from firmware_protocol.planes import content_hash, pack_planes
from firmware_protocol.transfer import PreparedImage, prepare_image

MODEL = model(ModelId.EPD290_BWR)
CHUNK = 256


def make_label(behaviour: Behaviour | None = None, **kwargs: object) -> SimLabel:
    label = SimLabel("lbl-1", MODEL, behaviour or Behaviour.instant(), random.Random(1), **kwargs)
    label.boot(0.0)
    return label


def planes_of(seed: int, box: tuple[int, int, int, int] | None = None) -> bytes:
    """Random three-colour noise in the top 40 rows (so payloads need many chunks), plus a box."""
    rng = random.Random(seed)
    w, h = MODEL.width, MODEL.height
    pixels = bytearray(w * h)
    pixels[: w * 40] = bytes(rng.choice((0, 1, 2)) for _ in range(w * 40))
    if box is not None:
        x0, y0, x1, y1 = box
        for y in range(y0, y1):
            pixels[y * w + x0 : y * w + x1] = b"\x01" * (x1 - x0)
    return pack_planes(bytes(pixels), MODEL)


def offer(
    planes: bytes,
    revision: int,
    xfer_id: int,
    *,
    base: bytes | None = None,
    page: int = 0,
) -> PreparedImage:
    return prepare_image(
        planes, revision=revision, xfer_id=xfer_id, chunk_size=CHUNK, page=page, base=base
    )


def transfer(label: SimLabel, prepared: PreparedImage, now: float = 0.0) -> list[Message]:
    out = label.handle(prepared.desired, now)
    for chunk in prepared.chunks():
        out += label.handle(chunk, now)
    return out


def applied(revision: int, planes: bytes, page: int = 0) -> Reported:
    return Reported(revision, content_hash(planes), page, ReportResult.APPLIED)


A = planes_of(1)
B = planes_of(1, box=(200, 60, 260, 100))  # A plus a black box: a small delta
C = planes_of(2)
