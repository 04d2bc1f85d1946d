"""The shipped fonts cover every letter and sign a label in tr/az/en may show."""

from __future__ import annotations

from importlib import resources

import pytest

from label_renderer.fonts import FontName, font
from label_renderer.textfit import ELLIPSIS

TURKISH = "ABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZabcçdefgğhıijklmnoöprsştuüvyzÂÎÛâîû"
AZERBAIJANI = "ABCÇDEƏFGĞHXIİJKQLMNOÖPRSŞTUÜVYZabcçdeəfgğhxıijkqlmnoöprsştuüvyz"
ENGLISH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SIGNS = "₺₼€$£¥0123456789.,:;-/%()&'" + ELLIPSIS  # prices, units, badges, the cut-off mark
CHARACTERS = sorted(set(TURKISH + AZERBAIJANI + ENGLISH + SIGNS))
MISSING = "\ue000"  # a private-use code point: certainly not in Noto Sans, so it draws .notdef
SIZE = 32


def _mask(name: FontName, text: str) -> tuple[tuple[int, int], bytes]:
    mask = font(name, SIZE).getmask(text, mode="1")
    return mask.size, bytes(mask)


@pytest.mark.parametrize("name", ["regular", "bold"])
def test_private_use_character_draws_the_notdef_box(name: FontName) -> None:
    """The reference for 'missing' is real: U+E000 draws an inked box, like any other gap."""
    size, ink = _mask(name, MISSING)
    assert size[0] > 0
    assert any(ink)
    assert _mask(name, "\ue001") == (size, ink)


@pytest.mark.parametrize("name", ["regular", "bold"])
def test_every_label_character_has_a_real_glyph(name: FontName) -> None:
    """Each Turkish/Azerbaijani letter and ₺ ₼ € $ £ renders as ink that is not the .notdef box."""
    notdef = _mask(name, MISSING)
    missing = [ch for ch in CHARACTERS if _mask(name, ch) == notdef]
    blank = [ch for ch in CHARACTERS if not any(_mask(name, ch)[1])]
    assert not missing, f"{name} lacks glyphs for {''.join(missing)!r}"
    assert not blank, f"{name} draws nothing for {''.join(blank)!r}"


def test_dotted_and_dotless_i_differ() -> None:
    """I/ı and İ/i are four different glyphs (Turkish case pairs are not the ASCII ones)."""
    for name in ("regular", "bold"):
        masks = {_mask(name, ch) for ch in "Iıİi"}
        assert len(masks) == 4


def test_fonts_ship_with_their_licence() -> None:
    """The fonts folder ships the SIL Open Font License next to the font files."""
    folder = resources.files("label_renderer").joinpath("fonts")
    licence = folder.joinpath("OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE" in licence.upper()
    assert {e.name for e in folder.iterdir()} >= {
        "NotoSans-Regular.ttf",
        "NotoSans-Bold.ttf",
        "OFL.txt",
    }
