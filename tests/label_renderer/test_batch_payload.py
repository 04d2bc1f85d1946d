"""A render job that asks for its transfer: the worker returns the payload the controller
would have built (a delta against the label's shown image when smaller), and leaves the raw
planes behind when told to."""

from __future__ import annotations

import zlib
from dataclasses import replace
from decimal import Decimal

from firmware_protocol.messages import Encoding
from firmware_protocol.transfer import image_payload
from label_renderer.batch import BatchRenderer, RenderJob, render_job
from label_renderer.content import LabelContent, Money


def _job(amount: str, **extra: object) -> RenderJob:
    content = LabelContent(
        sku="TR-1", name="Gofret", locale="tr-TR", price=Money(Decimal(amount), "TRY")
    )
    return RenderJob("lbl-1", content, "epd290-bwr", **extra)  # type: ignore[arg-type]


def test_the_worker_builds_the_delta_against_the_shown_image() -> None:
    """with_payload and a base: the payload equals image_payload(planes, base), a delta."""
    shown = render_job(_job("12.50"))
    result = render_job(_job("13.75", base=shown.compressed, with_payload=True))
    assert result.payload == image_payload(result.planes, base=shown.planes)
    assert result.payload is not None
    assert result.payload.encoding is Encoding.DELTA_XOR
    assert result.payload.content_hash == result.content_hash


def test_without_planes_the_result_keeps_the_stream_and_hash() -> None:
    """with_planes=False: no raw planes, the same content hash and zlib stream."""
    full = render_job(_job("13.75"))
    lean = render_job(_job("13.75", with_payload=True, with_planes=False))
    assert lean.planes == b""
    assert (lean.content_hash, zlib.decompress(lean.compressed)) == (full.content_hash, full.planes)
    assert lean.payload == image_payload(full.planes)


def test_a_damaged_base_costs_only_the_delta() -> None:
    """A stored base that does not inflate gives a full frame, not a failed job."""
    result = render_job(_job("13.75", base=b"not zlib", with_payload=True))
    assert result.ok
    assert result.payload is not None
    assert result.payload.encoding is Encoding.FULL


def test_payloads_come_back_from_the_worker_processes() -> None:
    """Through a two-process pool the payloads are those built in this process."""
    shown = render_job(_job("12.50"))
    jobs = [
        replace(_job(f"1{i}.75", base=shown.compressed, with_payload=True), key=f"lbl-{i}")
        for i in range(4)
    ]
    with BatchRenderer(2) as pool:
        results = pool.render(jobs)
    assert [r.payload for r in results] == [render_job(job).payload for job in jobs]
