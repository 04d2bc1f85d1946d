"""The fonts shipped inside the package (Noto Sans, SIL OFL; see fonts/OFL.txt).

Output must never depend on the host, so fonts load from the package and always with Pillow's
basic layout engine: Latin, Turkish, Azerbaijani and Cyrillic need no complex shaping, and the
basic engine gives the same pixels whether or not the host's Pillow has libraqm.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from io import BytesIO
from typing import Literal

from PIL import ImageFont

FontName = Literal["regular", "bold"]

_FILES: dict[str, str] = {"regular": "NotoSans-Regular.ttf", "bold": "NotoSans-Bold.ttf"}


@lru_cache(maxsize=8)
def _font_bytes(name: str) -> bytes:
    return resources.files("label_renderer").joinpath("fonts", _FILES[name]).read_bytes()


@lru_cache(maxsize=512)
def font(name: FontName, size: int) -> ImageFont.FreeTypeFont:
    """The shipped font at a pixel size; cached, since loading a face costs ~1 ms."""
    return ImageFont.truetype(
        BytesIO(_font_bytes(name)), size, layout_engine=ImageFont.Layout.BASIC
    )
