"""Real decoders reading a rendered label the way a shopper's phone or a scanner would.

zbar (`zbarimg`) decodes QR codes and EAN-13 barcodes, tesseract reads price digits. Both are
Debian packages installed by scripts/install-system-deps; nothing here is mocked, so a test that
passes proves the pixels themselves carry the data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from base64 import b64decode
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps

_ZBAR_NS = {"z": "http://zbar.sourceforge.net/2008/barcode"}
_ZBAR_NOTHING_FOUND = 4  # zbarimg's exit status when an image holds no symbol

# The symbologies a label carries. Everything else stays off: with every decoder on, zbar may
# "find" a DataBar or Codabar in a run of bold letters, and such noise is not what we test.
DEFAULT_SYMBOLOGIES = ("qrcode", "ean13")

# Tesseract's models are trained on text a few dozen pixels high; a 2.9" label's decimals are
# ~12 px. Upscaling by a whole factor with nearest neighbour keeps the pixels exactly as the panel
# shows them (no invented grey, no smoothing that could "repair" a broken glyph).
_OCR_MIN_HEIGHT = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed; run scripts/install-system-deps")
    return path


def zbar_decode(
    png: bytes, symbologies: tuple[str, ...] = DEFAULT_SYMBOLOGIES
) -> list[tuple[str, str]]:
    """Every symbol zbar finds in a PNG, as (type, data): ("QR-Code", url), ("EAN-13", gtin)."""
    return zbar_decode_many([png], symbologies)[0]


def zbar_decode_many(
    pngs: list[bytes], symbologies: tuple[str, ...] = DEFAULT_SYMBOLOGIES
) -> list[list[tuple[str, str]]]:
    """zbar_decode for many images in one zbarimg run (starting zbarimg costs more than a scan).

    The XML output is used rather than "TYPE:data" lines: it groups the symbols by image, and
    data holding a newline or a colon cannot be mistaken for a second symbol.
    """
    if not pngs:
        return []
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder) / f"label-{index}.png" for index in range(len(pngs))]
        for file, png in zip(files, pngs, strict=True):
            file.write_bytes(png)
        enable = [f"-S{name}.enable" for name in symbologies]
        done = subprocess.run(
            [_tool("zbarimg"), "--quiet", "--nodbus", "--xml", "-Sdisable", *enable]
            + [str(file) for file in files],
            capture_output=True,
            check=False,
            timeout=120,
        )
    if done.returncode not in (0, _ZBAR_NOTHING_FOUND):
        raise RuntimeError(f"zbarimg failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    found: dict[str, list[tuple[str, str]]] = {}
    for source in ET.fromstring(done.stdout).iterfind("z:source", _ZBAR_NS):
        symbols = found.setdefault(Path(source.get("href", "")).name, [])
        for symbol in source.iterfind(".//z:symbol", _ZBAR_NS):
            data = symbol.find("z:data", _ZBAR_NS)
            text = "" if data is None or data.text is None else data.text
            if data is not None and data.get("format") == "base64":
                text = b64decode(text).decode("utf-8", errors="replace")
            symbols.append((symbol.get("type", "?"), text))
    return [found.get(file.name, []) for file in files]


def _ink_on_white(picture: Image.Image) -> Image.Image:
    """Black ink on white, whatever the colours: yellow on white and white on red alike.

    A label crop holds two or three flat colours, so the midpoint of the grey range separates
    them. The background is the side that covers most of the crop's outermost pixels: bold
    digits may cover most of a tight price crop, but they touch its edges only here and there.
    """
    grey = picture.convert("L")
    low, high = grey.getextrema()
    cut = (low + high) // 2
    width, height = grey.size
    edge = [grey.getpixel((x, y)) for x in range(width) for y in (0, height - 1)]
    edge += [grey.getpixel((x, y)) for y in range(height) for x in (0, width - 1)]
    dark_edge = sum(1 for v in edge if isinstance(v, int) and v <= cut)
    ink_is_dark = dark_edge <= len(edge) - dark_edge
    return grey.point(lambda v: 0 if (v <= cut) == ink_is_dark else 255)


def _ocr_ready(png: bytes) -> Image.Image:
    line = _ink_on_white(Image.open(BytesIO(png)))
    factor = max(1, -(-_OCR_MIN_HEIGHT // max(1, line.height)))
    line = line.resize((line.width * factor, line.height * factor), Image.Resampling.NEAREST)
    return ImageOps.expand(line, border=max(10, line.height // 3), fill=255)


def ocr_digits(png: bytes) -> str:
    """What tesseract reads in a crop holding one line of digits ("1.299,90"), separators kept.

    The crop is binarised to black on white, enlarged by a whole factor with nearest neighbour
    until it is at least 60 px high (see _OCR_MIN_HEIGHT), and given a white border: tesseract's
    page layout analysis drops glyphs that touch the image edge.
    """
    return ocr_digits_many([png])[0]


def ocr_digits_many(pngs: list[bytes]) -> list[str]:
    """ocr_digits for many crops in one tesseract run, which loads its model once.

    Tesseract reads a list of image files and separates the pages of its output with a form
    feed. One thread (OMP_THREAD_LIMIT=1): OpenMP only slows such small images down.
    """
    if not pngs:
        return []
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder) / f"crop-{index}.png" for index in range(len(pngs))]
        for file, png in zip(files, pngs, strict=True):
            _ocr_ready(png).save(file, format="PNG")
        listing = Path(folder) / "crops.txt"
        listing.write_text("".join(f"{file}\n" for file in files), encoding="utf-8")
        done = subprocess.run(
            [
                _tool("tesseract"),
                str(listing),
                "stdout",
                "-l",
                "eng",
                "--psm",
                "7",  # a single text line
                "-c",
                "tessedit_char_whitelist=0123456789.,",
            ],
            capture_output=True,
            check=False,
            timeout=300,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
    if done.returncode != 0:
        raise RuntimeError(f"tesseract failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    pages = done.stdout.decode().split("\f")
    if len(pages) < len(pngs) or any(page.strip() for page in pages[len(pngs) :]):
        raise RuntimeError(f"tesseract gave {len(pages)} pages for {len(pngs)} images")
    return [page.strip() for page in pages[: len(pngs)]]


@dataclass(frozen=True)
class _Blob:
    """One connected piece of ink (8-neighbourhood): a digit, a separator, a sign's stroke."""

    pixels: tuple[tuple[int, int], ...]
    left: int
    top: int
    right: int  # exclusive
    bottom: int  # exclusive

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2


def _blobs(ink: Image.Image) -> list[_Blob]:
    width, height = ink.size
    data = ink.tobytes()
    seen = bytearray(width * height)
    blobs: list[_Blob] = []
    for start, value in enumerate(data):
        if not value or seen[start]:
            continue
        seen[start] = 1
        stack, found = [start], []
        while stack:
            here = stack.pop()
            x, y = here % width, here // width
            found.append((x, y))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    nx, ny = x + dx, y + dy
                    near = ny * width + nx
                    if 0 <= nx < width and 0 <= ny < height and data[near] and not seen[near]:
                        seen[near] = 1
                        stack.append(near)
        xs = [x for x, _ in found]
        ys = [y for _, y in found]
        blobs.append(_Blob(tuple(found), min(xs), min(ys), max(xs) + 1, max(ys) + 1))
    return blobs


def _paint(blobs: list[_Blob]) -> Image.Image:
    """The blobs as white-on-black ink, cropped to their bounding box."""
    left, top = min(b.left for b in blobs), min(b.top for b in blobs)
    right, bottom = max(b.right for b in blobs), max(b.bottom for b in blobs)
    picture = Image.new("L", (right - left, bottom - top), 0)
    for blob in blobs:
        for x, y in blob.pixels:
            picture.putpixel((x - left, y - top), 255)
    return picture


def price_on_one_line(png: bytes) -> bytes:
    """A shelf price re-set on one baseline, so that a line reader can read all of its digits.

    Labels print "1.299" large with "90" small and raised and the currency sign stacked under
    the decimals; tesseract's line finder takes such decimals for a superscript and drops them.
    This finds the connected pieces of ink, keeps the large digits and the separators between
    them, takes the small pieces right of them whose centre is in the upper half of the large
    digits (the decimals, not the sign under them), enlarges those by the whole factor nearest
    to the large digits' height and sets them on the same baseline. A small sign before the
    large digits ("$") is left out. A price in one size throughout comes back unchanged.
    """
    ink = ImageOps.invert(_ink_on_white(Image.open(BytesIO(png))))  # ink 255
    blobs = _blobs(ink)
    tallest = max((b.height for b in blobs), default=0)
    large = [b for b in blobs if b.height >= 0.75 * tallest]
    if not large:
        return png
    left = min(b.left for b in large)
    right = max(b.right for b in large)
    top = min(b.top for b in large)
    baseline = max(b.bottom for b in large)
    middle = (top + baseline) / 2
    whole = [b for b in blobs if left <= b.centre[0] < right]
    raised = [b for b in blobs if b.centre[0] >= right and b.centre[1] < middle]
    if not raised:
        return png
    whole_part = _paint(whole)
    small = _paint(raised)
    factor = max(1, round(tallest / small.height))
    small = small.resize((small.width * factor, small.height * factor), Image.Resampling.NEAREST)
    gap = max(2, tallest // 2)
    whole_baseline = baseline - min(b.top for b in whole)  # the commas hang below it
    height = max(whole_part.height, whole_baseline + max(0, small.height - whole_baseline))
    raise_by = max(0, small.height - whole_baseline)
    line = Image.new("L", (whole_part.width + gap + small.width, height + raise_by), 0)
    line.paste(whole_part, (0, raise_by))
    line.paste(small, (whole_part.width + gap, raise_by + whole_baseline - small.height))
    out = BytesIO()
    ImageOps.invert(line).save(out, format="PNG")
    return out.getvalue()
