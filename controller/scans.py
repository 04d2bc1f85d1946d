"""Shoppers' QR scans: the label's QR points at the controller (/q/{store}/{sku}), which records
the scan and answers the shoppers' page, which links to the item's reviews page
(controller/shoppers/), or redirects to that page (OMNISHELF_SHOPPER_PAGE=false).

The redirect target is built from the configured pattern and must land on an allowlisted host
over HTTPS: the controller is never an open redirect (OWASP "Unvalidated Redirects"), even if a
pattern, a SKU or a proxy rewrite tries to smuggle another host in.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from controller.errors import ControllerError


class RedirectRefused(ControllerError):
    """The reviews URL would leave the allowlisted hosts."""


def reviews_url(pattern: str, *, store: str, sku: str) -> str:
    """The reviews URL of `sku`: store and SKU are URL-quoted, so they cannot add a path or host."""
    return pattern.format(store=quote(store, safe=""), sku=quote(sku, safe=""))


def checked_redirect(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """`url` if it is HTTPS to an allowlisted host with no credentials in it; else refused."""
    if any(ch in url for ch in "\\\r\n\t") or url.strip() != url:
        raise RedirectRefused(f"redirect target {url!r} contains forbidden characters")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise RedirectRefused(f"redirect target {url!r} is not https")
    if parts.username is not None or parts.password is not None:
        raise RedirectRefused(f"redirect target {url!r} carries credentials")
    host = (parts.hostname or "").rstrip(".")
    if host not in {h.lower() for h in allowed_hosts}:
        raise RedirectRefused(f"redirect host {host!r} is not allowlisted")
    return url
