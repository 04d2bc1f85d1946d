"""The password derivation of PROTOCOL.md §1.2: its worked vectors and the broker's accounts agree.

The ```credential NAME blocks are parsed from the document; each password is recomputed twice,
from the text of §1.2 with the standard library and by the function the product provisions
devices with, so neither the document nor the product can drift alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest

from broker_access.credentials import RESERVED_PREFIXES, client_password, service_users
from firmware_protocol.topics import check_id

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware_protocol" / "PROTOCOL.md"
_BLOCK = re.compile(r"^```credential ([a-z0-9][a-z0-9.-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _credentials() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name, text in _BLOCK.findall(PROTOCOL_MD.read_text(encoding="utf-8")):
        fields = dict(line.split(None, 1) for line in text.splitlines() if line.strip())
        found[name] = {key: value.strip() for key, value in fields.items()}
    return found


def _section(title: str) -> str:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    start = text.index(f"\n### {title}")
    return text[start : text.index("\n### ", start + 1)]


def test_the_document_has_the_lbl_0001_vector() -> None:
    """§1.2 carries the worked vector issue 13 asked for: secret test-store-secret, id lbl-0001."""
    vector = _credentials()["lbl-0001"]
    assert sorted(vector) == ["id", "password", "secret"]
    assert (vector["secret"], vector["id"]) == ("test-store-secret", "lbl-0001")


@pytest.mark.parametrize("name", sorted(_credentials()))
def test_documented_password_follows_the_text(name: str) -> None:
    """base64url without padding of HMAC-SHA256(key=secret, message=id) gives the printed one."""
    vector = _credentials()[name]
    mac = hmac.new(vector["secret"].encode(), vector["id"].encode(), hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert vector["password"] == expected
    assert len(vector["password"]) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", vector["password"])


@pytest.mark.parametrize("name", sorted(_credentials()))
def test_documented_password_is_what_the_broker_is_provisioned_with(name: str) -> None:
    """broker_access.credentials.client_password, which provisions the broker, agrees."""
    vector = _credentials()[name]
    assert client_password(vector["secret"], vector["id"]) == vector["password"]
    assert check_id(vector["id"], "id") == name


def test_reserved_prefixes_are_the_documented_ones() -> None:
    """§2.2 names exactly the service-account prefixes provisioning refuses, and §1.2 every
    service account of a store."""
    ids = _section("2.2 Identifiers")
    documented = re.search(r"No device or AP id may start with (.*?):", ids, re.DOTALL)
    assert documented is not None
    assert sorted(re.findall(r"`([a-z]+-)`", documented.group(1))) == sorted(RESERVED_PREFIXES)
    transport = _section("1.2 Transport and credentials")
    for user in service_users("{store}"):
        assert f"`{user}`" in transport
