"""Real decoders reading a rendered label the way a shopper's phone or a scanner would.

zbar (`zbarimg`) decodes QR codes and EAN-13 barcodes, tesseract reads price digits. Both are
Debian packages installed by scripts/install-system-deps; nothing here is mocked, so a test that
passes proves the pixels themselves carry the data.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from base64 import b64decode
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
    """Every symbol zbar finds in a PNG, as (type, data): ("QR-Code", url), ("EAN-13", gtin).

    The XML output is used rather than "TYPE:data" lines so that data holding a newline or a
    colon cannot be mistaken for a second symbol.
    """
    with tempfile.TemporaryDirectory() as folder:
        picture = Path(folder) / "label.png"
        picture.write_bytes(png)
        enable = [f"-S{name}.enable" for name in symbologies]
        done = subprocess.run(
            [_tool("zbarimg"), "--quiet", "--nodbus", "--xml", "-Sdisable", *enable, str(picture)],
            capture_output=True,
            check=False,
            timeout=60,
        )
    if done.returncode not in (0, _ZBAR_NOTHING_FOUND):
        raise RuntimeError(f"zbarimg failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    symbols: list[tuple[str, str]] = []
    for symbol in ET.fromstring(done.stdout).iterfind(".//z:symbol", _ZBAR_NS):
        data = symbol.find("z:data", _ZBAR_NS)
        text = "" if data is None or data.text is None else data.text
        if data is not None and data.get("format") == "base64":
            text = b64decode(text).decode("utf-8", errors="replace")
        symbols.append((symbol.get("type", "?"), text))
    return symbols


def _ink_on_white(picture: Image.Image) -> Image.Image:
    """Black ink on white, whatever the colours: yellow on white and white on red alike.

    A label crop holds exactly two or three flat colours, so the midpoint of the grey range
    separates them, and the colour covering most pixels is the background.
    """
    grey = picture.convert("L")
    low, high = grey.getextrema()
    cut = (low + high) // 2
    dark = sum(grey.histogram()[: cut + 1])
    ink_is_dark = dark <= grey.width * grey.height - dark
    return grey.point(lambda v: 0 if (v <= cut) == ink_is_dark else 255)


def ocr_digits(png: bytes) -> str:
    """What tesseract reads in a crop holding one line of digits ("1.299,90"), separators kept.

    The crop is binarised to black on white, enlarged by a whole factor with nearest neighbour
    until it is at least 60 px high (see _OCR_MIN_HEIGHT), and given a white border: tesseract's
    page layout analysis drops glyphs that touch the image edge.
    """
    line = _ink_on_white(Image.open(BytesIO(png)))
    factor = max(1, -(-_OCR_MIN_HEIGHT // max(1, line.height)))
    line = line.resize((line.width * factor, line.height * factor), Image.Resampling.NEAREST)
    line = ImageOps.expand(line, border=max(10, line.height // 3), fill=255)
    out = BytesIO()
    line.save(out, format="PNG")
    done = subprocess.run(
        [
            _tool("tesseract"),
            "stdin",
            "stdout",
            "-l",
            "eng",
            "--psm",
            "7",  # a single text line
            "-c",
            "tessedit_char_whitelist=0123456789.,",
        ],
        input=out.getvalue(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tesseract failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return done.stdout.decode().strip()


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for index, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index))
            start = None
    return runs


def price_on_one_line(png: bytes) -> bytes:
    """A shelf price re-set on one baseline, so that a line reader can read all of its digits.

    Labels print "1.299" large with "90" small and raised and the currency sign stacked under
    the decimals; tesseract's line finder takes such decimals for a superscript and drops them.
    This cuts the crop into columns of ink, keeps the large digits (and the separators between
    them) as they are, takes the top piece of each column after them (the decimals, not the sign
    under them), enlarges that by the whole factor nearest to the large digits' height and
    places it on the same baseline. A small sign before the large digits ("$") is left out.
    A price set in one size throughout comes back unchanged.
    """
    source = Image.open(BytesIO(png))
    ink = ImageOps.invert(_ink_on_white(source))  # ink 255
    pixels = ink.load()
    assert pixels is not None
    width, height = ink.size
    columns = _runs([any(pixels[x, y] for y in range(height)) for x in range(width)])
    pieces = [
        ((x0, x1), _runs([any(pixels[x, y] for x in range(x0, x1)) for y in range(height)]))
        for x0, x1 in columns
    ]
    tallest = max((y1 - y0 for _, rows in pieces for y0, y1 in rows), default=0)
    large = [
        i for i, (_, rows) in enumerate(pieces) if any(y1 - y0 >= 0.75 * tallest for y0, y1 in rows)
    ]
    if not large or large[-1] == len(pieces) - 1:
        return png
    whole = ink.crop((pieces[large[0]][0][0], 0, pieces[large[-1]][0][1], height))
    baseline = max(y1 for i in large for y0, y1 in pieces[i][1] if y1 - y0 >= 0.75 * tallest)
    after = pieces[large[-1] + 1 :]
    left, right = after[0][0][0], after[-1][0][1]
    top = min(rows[0][0] for _, rows in after)
    bottom = max(rows[0][1] for _, rows in after)
    small = Image.new("L", (right - left, bottom - top), 0)
    for (x0, x1), rows in after:
        y0, y1 = rows[0]
        small.paste(ink.crop((x0, y0, x1, y1)), (x0 - left, y0 - top))
    factor = max(1, round(tallest / max(1, small.height)))
    small = small.resize((small.width * factor, small.height * factor), Image.Resampling.NEAREST)
    gap = max(2, tallest // 2)
    raise_by = max(0, small.height - baseline)  # room above when the enlarged decimals are taller
    line = Image.new("L", (whole.width + gap + small.width, height + raise_by), 0)
    line.paste(whole, (0, raise_by))
    line.paste(small, (whole.width + gap, raise_by + baseline - small.height))
    out = BytesIO()
    ImageOps.invert(line).save(out, format="PNG")
    return out.getvalue()
