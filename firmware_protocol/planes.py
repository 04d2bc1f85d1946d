"""Bit planes: how a panel's pixels travel (PROTOCOL.md §5.1).

A pixel index is 0 white, 1 black, 2 accent (red or yellow). Plane 0 has a 1 bit where the
pixel is black; plane 1 (BWR/BWY only) a 1 bit where it is the accent colour. Rows run top to
bottom, pixels left to right, most significant bit first, each row padded with 0 bits to a
whole byte. Planes follow each other: a 296x128 BWR image is 2 x 37 x 128 = 9,472 bytes.

Pure Python without per-pixel loops: a row becomes a string of '0'/'1' via bytes.translate and
int(row, 2) packs it, so even an 800x480 panel packs in milliseconds.
"""

from __future__ import annotations

import hashlib

from firmware_protocol.errors import TransferError
from firmware_protocol.models import DeviceModel

_TO_BLACK = bytes.maketrans(b"\x00\x01\x02", b"010")
_TO_ACCENT = bytes.maketrans(b"\x00\x01\x02", b"001")
_BOTH_TO_ACCENT = bytes.maketrans(b"\x03", b"\x02")


def _pack_plane(pixels: bytes, table: bytes, width: int, height: int) -> bytes:
    stride = (width + 7) // 8
    pad = "0" * (stride * 8 - width)
    bits = pixels.translate(table).decode("ascii")
    out = bytearray()
    for y in range(height):
        row = bits[y * width : (y + 1) * width] + pad
        out += int(row, 2).to_bytes(stride, "big")
    return bytes(out)


def _unpack_plane(plane: bytes, width: int, height: int) -> list[str]:
    stride = (width + 7) // 8
    rows = []
    for y in range(height):
        value = int.from_bytes(plane[y * stride : (y + 1) * stride], "big")
        rows.append(format(value, f"0{stride * 8}b")[:width])
    return rows


def pack_planes(pixels: bytes, model: DeviceModel) -> bytes:
    """One byte per pixel (palette index) to the device's bit planes."""
    if model.palette is None:
        raise TransferError(f"model {model.name} has no panel")
    if len(pixels) != model.width * model.height:
        raise TransferError(
            f"{model.name} needs {model.width * model.height} pixels, got {len(pixels)}"
        )
    top = len(model.palette.colours) - 1
    if max(pixels, default=0) > top:
        raise TransferError(f"{model.name} pixel indices must be 0..{top}")
    planes = _pack_plane(pixels, _TO_BLACK, model.width, model.height)
    if model.palette.plane_count == 2:
        planes += _pack_plane(pixels, _TO_ACCENT, model.width, model.height)
    return planes


def unpack_planes(planes: bytes, model: DeviceModel) -> bytes:
    """The device's bit planes back to one palette index per pixel (accent wins over black)."""
    if model.palette is None:
        raise TransferError(f"model {model.name} has no panel")
    if len(planes) != model.frame_size:
        raise TransferError(f"{model.name} planes are {model.frame_size} bytes, got {len(planes)}")
    black = _unpack_plane(planes[: model.plane_size], model.width, model.height)
    pixels = "".join(black).encode("ascii").translate(bytes.maketrans(b"01", b"\x00\x01"))
    if model.palette.plane_count == 1:
        return pixels
    accent = _unpack_plane(planes[model.plane_size :], model.width, model.height)
    accent_pixels = "".join(accent).encode("ascii").translate(bytes.maketrans(b"01", b"\x00\x02"))
    # Bytes hold 0..3, so adding the two as big integers never carries between pixels;
    # a pixel with both bits set (not produced by pack_planes) shows the accent colour.
    total = int.from_bytes(pixels, "big") + int.from_bytes(accent_pixels, "big")
    return total.to_bytes(len(pixels), "big").translate(_BOTH_TO_ACCENT)


def content_hash(planes: bytes) -> bytes:
    """The 16-byte content hash of an image: the first half of SHA-256 over its planes."""
    return hashlib.sha256(planes).digest()[:16]
