"""Bit planes: packing, unpacking and sizes for every label model."""

from __future__ import annotations

import hashlib

import pytest

from firmware_protocol.errors import TransferError
from firmware_protocol.models import LABEL_MODELS, DeviceModel, ModelId, Palette, model
from firmware_protocol.planes import content_hash, pack_planes, unpack_planes
from tests.support.transfer_kit import EPD290_BWR, _random_pixels

# ---- planes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("m", LABEL_MODELS, ids=[m.name for m in LABEL_MODELS])
def test_planes_round_trip_every_label_model(m: DeviceModel) -> None:
    """pack then unpack gives back every pixel, and the planes are exactly frame_size bytes."""
    pixels = _random_pixels(m, seed=m.id)
    assert m.palette is not None
    assert set(pixels) == set(range(len(m.palette.colours)))
    planes = pack_planes(pixels, m)
    plane_count = 1 if m.palette is Palette.BW else 2
    assert len(planes) == m.frame_size == ((m.width + 7) // 8) * m.height * plane_count
    assert unpack_planes(planes, m) == pixels


def test_label_models_cover_every_panel_and_palette() -> None:
    """LABEL_MODELS holds the 5 panel sizes in each of the 3 palettes."""
    assert len(LABEL_MODELS) == 15
    assert {(m.width, m.height) for m in LABEL_MODELS} == {
        (152, 152),
        (250, 122),
        (296, 128),
        (400, 300),
        (800, 480),
    }
    assert {m.palette for m in LABEL_MODELS} == set(Palette)


def test_296x128_bwr_is_9472_bytes() -> None:
    """A 2.9" black/white/red frame is 2 planes x 37 bytes x 128 rows = 9,472 bytes."""
    assert (EPD290_BWR.width, EPD290_BWR.height) == (296, 128)
    assert EPD290_BWR.frame_size == 9472
    assert len(pack_planes(bytes(296 * 128), EPD290_BWR)) == 9472


@pytest.mark.parametrize(
    ("model_id", "bad"),
    [(ModelId.EPD154_BW, 2), (ModelId.EPD213_BWR, 3), (ModelId.EPD420_BWY, 255)],
)
def test_pixel_index_outside_the_palette_is_refused(model_id: ModelId, bad: int) -> None:
    """A pixel index the panel's palette lacks raises TransferError."""
    m = model(model_id)
    pixels = bytearray(m.width * m.height)
    pixels[-1] = bad
    with pytest.raises(TransferError):
        pack_planes(bytes(pixels), m)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_pixel_count_is_refused(delta: int) -> None:
    """One pixel too few or too many raises TransferError."""
    with pytest.raises(TransferError):
        pack_planes(bytes(296 * 128 + delta), EPD290_BWR)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_plane_size_is_refused(delta: int) -> None:
    """Planes one byte short or long of frame_size raise TransferError on unpack."""
    with pytest.raises(TransferError):
        unpack_planes(bytes(9472 + delta), EPD290_BWR)


def test_model_without_panel_has_no_planes() -> None:
    """Packing or unpacking for a shelf sensor raises TransferError."""
    sensor = model(ModelId.SHELF_SENSOR_4)
    with pytest.raises(TransferError):
        pack_planes(b"", sensor)
    with pytest.raises(TransferError):
        unpack_planes(b"", sensor)


TEN_BY_TWO_BWR = DeviceModel(ModelId.EPD154_BWR, "test-10x2-bwr", 0.0, 10, 2, Palette.BWR)
TEN_BY_TWO_BW = DeviceModel(ModelId.EPD154_BW, "test-10x2-bw", 0.0, 10, 2, Palette.BW)
# row 0: 1 0 2 1 1 0 0 2 1 2     row 1: 0 1 0 1 0 1 0 1 2 1
TEN_BY_TWO_PIXELS = bytes([1, 0, 2, 1, 1, 0, 0, 2, 1, 2, 0, 1, 0, 1, 0, 1, 0, 1, 2, 1])


def test_hand_made_10x2_bwr_planes() -> None:
    """A 10x2 BWR image packs to bytes worked out by hand: MSB first, rows padded to 16 bits."""
    # black plane  row 0: 1001 1000 10|00 0000 -> 98 80   row 1: 0101 0101 01|00 0000 -> 55 40
    # accent plane row 0: 0010 0001 01|00 0000 -> 21 40   row 1: 0000 0000 10|00 0000 -> 00 80
    expected = bytes.fromhex("9880554021400080")
    assert TEN_BY_TWO_BWR.frame_size == 8
    assert pack_planes(TEN_BY_TWO_PIXELS, TEN_BY_TWO_BWR) == expected
    assert unpack_planes(expected, TEN_BY_TWO_BWR) == TEN_BY_TWO_PIXELS


def test_hand_made_10x2_bw_plane() -> None:
    """A 10x2 BW image packs to one plane worked out by hand."""
    pixels = bytes(1 if p == 1 else 0 for p in TEN_BY_TWO_PIXELS)
    expected = bytes.fromhex("98805540")
    assert pack_planes(pixels, TEN_BY_TWO_BW) == expected
    assert unpack_planes(expected, TEN_BY_TWO_BW) == pixels


def test_both_bits_set_shows_the_accent_colour() -> None:
    """A pixel set in both planes (never produced by pack) unpacks as the accent index 2."""
    planes = bytes.fromhex("ff c0 00 0080 00 00 00")
    assert unpack_planes(planes, TEN_BY_TWO_BWR) == bytes([2] + [1] * 9 + [0] * 10)


def test_content_hash_is_first_half_of_sha256() -> None:
    """content_hash is the first 16 bytes of SHA-256 over the planes."""
    planes = b"omnishelf planes"
    assert content_hash(planes) == hashlib.sha256(planes).digest()[:16]
    assert len(content_hash(b"")) == 16
