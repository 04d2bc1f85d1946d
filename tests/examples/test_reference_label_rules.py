"""The reference label's rules run in-process, without a broker: the offers it cannot take
(PROTOCOL.md §4.7), its payload buffer, the page it boots on (§7.3) and a stalled firmware
download (§7.7). What it sends is read with the omnishelf codec; the label never imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware_protocol import decode
from firmware_protocol.messages import XferReason, XferRequest
from tests.examples.test_reference_label_vectors import block, frames, label, transfer

FRAME_BYTES = 9472  # EPD290_BWR, the label's default model
BOUND = FRAME_BYTES + (FRAME_BYTES >> 12) + (FRAME_BYTES >> 14) + (FRAME_BYTES >> 25) + 13
CHUNK = 449


def make_label(tmp_path: Path, *extra: str) -> tuple[Any, list[bytes]]:
    """A Label as its CLI builds it (not connected); what it would publish goes to the list."""
    where = ["--broker", "mqtt://127.0.0.1:1", "--store", "s1", "--device", "lbl-0001"]
    args = label.parse_args([*where, "--state-dir", str(tmp_path / "state"), *extra])
    device = label.Label(args, "password")
    sent: list[bytes] = []
    device.send = sent.append
    device.images.send = sent.append
    device.firmware.send = sent.append
    return device, sent


def desired(
    *,
    page: int = 0,
    payload_size: int = FRAME_BYTES,
    chunk_size: int = CHUNK,
    raw: int = FRAME_BYTES,
) -> Any:
    return frames.Desired(
        7, bytes(range(16)), page, 0x70, 0, 1, bytes(16), raw, payload_size, 0, chunk_size
    )


@pytest.mark.parametrize(
    ("model", "raw", "payload_size", "chunk_size"),
    [
        ("EPD290_BWR", FRAME_BYTES, 0, CHUNK),
        ("EPD290_BWR", FRAME_BYTES, FRAME_BYTES, 0),
        ("EPD290_BWR", FRAME_BYTES, BOUND + 1, CHUNK),
        ("EPD750_BWR", 96_000, 65_536, 1),
    ],
    ids=["payload-0", "chunk-0", "above-the-zlib-bound", "65536-chunks"],
)
def test_an_offer_it_cannot_take_is_too_large_once(
    tmp_path: Path, model: str, raw: int, payload_size: int, chunk_size: int
) -> None:
    """payload_size 0, chunk_size 0, a payload above compressBound(frame bytes) or more than
    65,535 chunks: one XferRequest TOO_LARGE, and the offer is dropped (§4.7)."""
    device, sent = make_label(tmp_path, "--model", model)
    offer = desired(payload_size=payload_size, chunk_size=chunk_size, raw=raw)
    device.images.on_desired(offer, 0.0)
    requests = [decode(frame) for frame in sent]
    assert requests == [XferRequest(7, 0x70, XferReason.TOO_LARGE, bytes(16), b"")]
    assert device.images.transfer is None


@pytest.mark.parametrize(
    ("payload_size", "chunk_size"),
    [(BOUND, CHUNK), (FRAME_BYTES, 16), (1, 16)],
    ids=["the-zlib-bound", "chunks-of-16", "one-byte"],
)
def test_it_takes_any_payload_up_to_the_zlib_bound_in_chunks_of_16_up(
    tmp_path: Path, payload_size: int, chunk_size: int
) -> None:
    """The buffer is compressBound(frame bytes), and chunks as small as 16 bytes are taken."""
    device, sent = make_label(tmp_path)
    assert device.images.buffer_bytes == BOUND == transfer.compress_bound(FRAME_BYTES)
    device.images.on_desired(desired(payload_size=payload_size, chunk_size=chunk_size), 0.0)
    assert sent == []
    assert device.images.transfer is not None


def test_too_large_for_a_page_it_does_not_have_says_no_hash(tmp_path: Path) -> None:
    """An offer for page 2 of a 2-page label names NO_HASH: it has no such slot, even if its
    flash still holds planes from a time it had more pages (have_hash is hash(D.page), §4.7)."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "page-2.planes").write_bytes(bytes(FRAME_BYTES))
    device, sent = make_label(tmp_path)
    device.images.on_desired(desired(page=2), 0.0)
    assert [decode(frame) for frame in sent] == [
        XferRequest(7, 0x70, XferReason.TOO_LARGE, bytes(16), b"")
    ]


def test_it_boots_on_page_0_whatever_it_showed(tmp_path: Path) -> None:
    """A page switch lives in RAM: after a reboot the label shows page 0 and its Birth and
    BOOT report say so (§4.6, §7.3)."""
    device, sent = make_label(tmp_path)
    device.store.apply(1, bytes(FRAME_BYTES), 3, bytes(16))
    device.page_switch(11, 1, 0, 0.0)
    assert device.shown_page == 1
    device.boot()
    sent.clear()
    device.publish_birth()
    birth, boot = (decode(frame) for frame in sent)
    assert (getattr(birth, "shown_page", None), getattr(boot, "shown_page", None)) == (0, 0)


def test_a_stalled_firmware_download_fails_after_10_minutes(tmp_path: Path) -> None:
    """§7.7: no chunk for 10 minutes ends the download with CommandResult(txn, FAILED,
    "stalled"); before that it only asks for the missing chunks."""
    device, sent = make_label(tmp_path, "--firmware", "1.0.0")
    offer = frames.decode_down(block("vector", "firmware-offer"), "cmd")
    finished: list[tuple[int, int, str]] = []
    device.firmware.finish = lambda txn, status, detail: finished.append((txn, status, detail))
    device.firmware.model = offer.model
    assert device.firmware.on_offer(offer, 0.0)[0] == frames.IN_PROGRESS
    device.firmware.tick(599.0)
    assert finished == []
    assert {type(decode(frame)) for frame in sent} == {XferRequest}
    device.firmware.tick(600.0)
    assert finished == [(offer.txn, frames.FAILED, "stalled")]
    assert device.firmware.download is None
