"""The shoppers' page as one HTML document: the CSS inline, no script, no font, no image but an
inline SVG, so that a phone on a store's weak signal loads it in one request (a few KB).

The page is public, so every value is escaped (Jinja autoescape: an item's name is text, never
markup), and its Content-Security-Policy allows nothing but its own style element, by hash: a
script that an escaping bug let in would not run, nothing is loaded from anywhere, no site may
frame it. The answer sets no cookie; browsers and proxies may keep it for `MAX_AGE_S` (a price
change shows within that time; the labels themselves take seconds), which also spares the
controller a shopper's reloads.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from controller.shoppers.page import ShopperPage
from controller.shoppers.phrases import language_of, words_for

TEMPLATES = Path(__file__).parent / "templates"
MAX_AGE_S = 30

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Trusted text from this package, put in the <style> element as it is: the policy's hash is of
# exactly these characters.
CSS = Markup((TEMPLATES / "shopper.css").read_text(encoding="utf-8"))  # noqa: S704
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")

POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src data:;"
    " form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "Cache-Control": f"public, max-age={MAX_AGE_S}",
    "Referrer-Policy": "no-referrer",
}


def product_html(page: ShopperPage) -> str:
    return _ENV.get_template("product.html").render(page=page, css=CSS)


def not_found_html(locale: str) -> str:
    """ "Item not found" in the store's language."""
    return _ENV.get_template("not_found.html").render(
        lang=language_of(locale), words=words_for(locale), css=CSS
    )
