"""Source images for transfer tests: drawn with Pillow in a model's palette indices."""

from __future__ import annotations

from PIL import Image, ImageDraw

from firmware_protocol.models import DeviceModel
from firmware_protocol.planes import pack_planes


def price_image(model: DeviceModel, price: str, name: str = "Ayran 1 L") -> Image.Image:
    """A 'P' image (0 white, 1 black, 2 accent) resembling a shelf label."""
    image = Image.new("P", (model.width, model.height), 0)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, model.width - 1, model.height - 1), outline=1)
    draw.text((6, 6), name, fill=1)
    accent = 2 if model.palette is not None and model.palette.plane_count == 2 else 1
    draw.rectangle(
        (6, model.height // 2 - 4, model.width // 2, model.height // 2 + 14), fill=accent
    )
    draw.text((10, model.height // 2), price, fill=0)
    draw.text((model.width // 2 + 8, model.height - 20), "SKU 4006381333931", fill=1)
    return image


def planes_of(image: Image.Image, model: DeviceModel) -> bytes:
    return pack_planes(image.tobytes(), model)


def rgb_of(image: Image.Image, model: DeviceModel) -> Image.Image:
    assert model.palette is not None
    flat = [c for rgb in model.palette.colours for c in rgb]
    copy = image.copy()
    copy.putpalette(flat + [0] * (768 - len(flat)))
    return copy.convert("RGB")
