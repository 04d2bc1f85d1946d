"""broker_access: broker URLs, the credential scheme, and the package boundaries it exists for."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
from pathlib import Path

import pytest

import broker_access
from broker_access.address import BrokerAddress
from broker_access.credentials import (
    catalog_user,
    check_device_id,
    client_password,
    controller_user,
    hq_user,
)
from broker_access.errors import BrokerAccessError

REPO = Path(broker_access.__file__).resolve().parent.parent


def test_client_password_is_hmac_sha256_base64url_without_padding() -> None:
    """PROTOCOL.md §1.2's scheme: HMAC-SHA256(store secret, username), base64url, no '='."""
    expected = base64.urlsafe_b64encode(
        hmac.new(b"secret", b"lbl-00001", hashlib.sha256).digest()
    ).rstrip(b"=")
    assert client_password("secret", "lbl-00001") == expected.decode()
    assert len(client_password("secret", "lbl-00001")) == 43


def test_each_session_has_its_own_store_scoped_account() -> None:
    """The controller's two sessions and HQ have distinct usernames naming the store."""
    assert {controller_user("s1"), catalog_user("s1"), hq_user("s1")} == {
        "controller-s1",
        "controller-s1-catalog",
        "hq-s1",
    }


@pytest.mark.parametrize("device_id", ["controller-s1", "hq-s1", "observer-x", "a/b", ""])
def test_device_ids_may_not_be_service_accounts_or_invalid(device_id: str) -> None:
    """A device named like a service account would get its password and rights."""
    with pytest.raises(BrokerAccessError):
        check_device_id(device_id)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker:1884", BrokerAddress("broker", 1884)),
        ("127.0.0.1", BrokerAddress("127.0.0.1", 1883)),
        ("mqtts://broker", BrokerAddress("broker", 8883, tls=True)),
        ("mqtts://10.0.0.2:9883", BrokerAddress("10.0.0.2", 9883, tls=True)),
    ],
)
def test_broker_urls(url: str, expected: BrokerAddress) -> None:
    """mqtt:// is plain TCP on 1883 by default, mqtts:// TLS on 8883."""
    assert BrokerAddress.parse(url) == expected
    assert BrokerAddress.parse(expected.url) == expected


@pytest.mark.parametrize(
    ("url", "files"),
    [
        ("http://broker", {}),
        ("mqtt://broker:99999", {}),
        ("mqtt://broker", {"ca_file": Path("ca.crt")}),  # TLS files on a plain URL
        ("mqtts://broker", {"cert_file": Path("c.crt")}),  # a certificate without its key
    ],
)
def test_bad_broker_addresses(url: str, files: dict[str, Path]) -> None:
    """URLs and TLS files that cannot work are refused with the reason, before connecting."""
    with pytest.raises(BrokerAccessError):
        BrokerAddress.parse(url, **files)


def _imports(package: str) -> set[str]:
    names: set[str] = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_the_simulator_and_the_controller_do_not_import_each_other_for_the_broker() -> None:
    """device_sim imports nothing from controller; broker_access imports neither of them."""
    assert "controller" not in _imports("device_sim")
    assert not {"controller", "device_sim"} & _imports("broker_access")
