"""The QR scan redirect only ever lands on an allowlisted HTTPS host."""

from __future__ import annotations

import pytest

from controller.operations import aisle_of
from controller.scans import RedirectRefused, checked_redirect, reviews_url

ALLOWED = ("reviews.example",)


def test_reviews_url_quotes_store_and_sku():
    """A SKU with slashes or an @ cannot change the path or the host."""
    url = reviews_url("https://reviews.example/{store}/p/{sku}", store="ist", sku="a/../@evil")
    assert url == "https://reviews.example/ist/p/a%2F..%2F%40evil"
    assert checked_redirect(url, ALLOWED) == url


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/x",
        "https://reviews.example.evil.example/x",
        "https://reviews.example@evil.example/x",
        "https://user:pw@reviews.example/x",
        "http://reviews.example/x",
        "//evil.example/x",
        "/local/path",
        "javascript:alert(1)",
        "https://evil.example\\@reviews.example/",
        "https://reviews.example/x\r\nLocation: https://evil.example",
        " https://reviews.example/x",
    ],
)
def test_open_redirect_attempts_are_refused(target):
    """Other hosts, look-alike hosts, credentials, plain http, relative and script URLs fail."""
    with pytest.raises(RedirectRefused):
        checked_redirect(target, ALLOWED)


def test_host_match_ignores_case_and_trailing_dot():
    """REVIEWS.example. is the allowlisted host."""
    assert checked_redirect("https://REVIEWS.example./p", ALLOWED)


def test_the_aisle_of_an_items_labels() -> None:
    """One aisle however staff typed it (the first spelling kept); several or none: None."""
    assert aisle_of(["Reyon 3 / Raf 2", "reyon  3/raf 5", "REYON 3"]) == "Reyon 3"
    assert aisle_of(["Reyon 3 / Raf 2", "Reyon 30 / Raf 2"]) is None
    assert aisle_of([" / Raf 2"]) == "Raf 2"  # an empty part is no part
    assert aisle_of([]) is None
    assert aisle_of(["  /  "]) is None
