"""The store broker over TLS (PROTOCOL.md §1.2; issue 12, finding 12): certificates from
`omnishelf certs`, a TLS listener, optional client certificates."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography import x509
from typer.testing import CliRunner

from broker_access.address import BrokerAddress
from broker_access.credentials import hq_user
from controller.broker_config import TlsListener
from controller.certificates import issue_client
from controller.cli import app
from controller.local_broker import LocalBroker, free_port
from tests.support.store_kit import item, store_with_labels

STORE = "s1"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store CA, the broker's certificate and the service accounts' client certificates, made
    by the `omnishelf certs` command."""
    out = tmp_path_factory.mktemp("certs")
    result = CliRunner().invoke(app, ["certs", "--out", str(out), "--store", STORE])
    assert result.exit_code == 0, result.output
    return out


def _tls_broker(workdir: Path, certs: Path, *, require_certificate: bool) -> LocalBroker:
    tls = TlsListener(
        free_port(),
        certs / "ca.crt",
        certs / "broker.crt",
        certs / "broker.key",
        require_certificate=require_certificate,
    )
    return LocalBroker(workdir, secrets.token_urlsafe(16), stores=(STORE,), tls=tls, plain=False)


@pytest.fixture
def tls_broker(tmp_path: Path, certs: Path) -> Iterator[LocalBroker]:
    """A broker listening on TLS only."""
    with _tls_broker(tmp_path / "broker", certs, require_certificate=False) as running:
        yield running


def _hq(address: BrokerAddress, broker: LocalBroker) -> aiomqtt.Client:
    user = hq_user(STORE)
    return aiomqtt.Client(
        address.host,
        address.port,
        identifier=user,
        username=user,
        password=broker.password(user),
        tls_context=address.tls_context(),
        timeout=3,  # a refused client waits this long for its CONNACK
    )


def test_certs_name_the_broker_and_the_clients(certs: Path) -> None:
    """The broker's certificate is valid for 127.0.0.1 and localhost; a client's names its
    username; every key is readable by its owner only."""
    cert = x509.load_pem_x509_certificate((certs / "broker.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    client = x509.load_pem_x509_certificate((certs / f"{hq_user(STORE)}.crt").read_bytes())
    assert client.subject.rfc4514_string() == f"CN={hq_user(STORE)}"
    assert all(key.stat().st_mode & 0o077 == 0 for key in certs.glob("*.key"))


async def test_finding_12_controller_and_labels_converge_over_tls(
    tls_broker: LocalBroker, tmp_path: Path
) -> None:
    """On a TLS-only broker the controller (mqtts:// with the store CA), HQ and the simulated
    labels connect, and a price reaches the labels."""
    assert tls_broker.url.startswith("mqtts://")
    async with store_with_labels(tls_broker, STORE, tmp_path, labels=2) as rig:
        await rig.publish_item(item("TR-1", "12.50"))
        await rig.wait_until(
            lambda: _true_when(any(t.endswith("/receipt") for t, _ in rig.statuses)),
            what="HQ's receipt",
        )
        for label in rig.labels:
            await rig.ctl.operations.link(label, "TR-1", actor="test")
        await rig.converged()


async def _true_when(value: bool) -> bool:
    return value


async def test_plaintext_to_the_tls_port_fails(tls_broker: LocalBroker) -> None:
    """A client speaking plain MQTT to the TLS listener does not get a session."""
    address = tls_broker.tls_address()
    with pytest.raises(aiomqtt.MqttError):
        async with _hq(BrokerAddress(address.host, address.port), tls_broker):
            pass


# paho leaves the socket of a failed TLS handshake to the garbage collector (a ResourceWarning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_an_unknown_ca_is_refused(tls_broker: LocalBroker, tmp_path: Path) -> None:
    """A client that trusts only the system CAs does not accept the store broker's certificate."""
    address = tls_broker.tls_address()
    system = BrokerAddress(address.host, address.port, tls=True)
    with pytest.raises(aiomqtt.MqttError):
        async with _hq(system, tls_broker):
            pass


async def test_required_client_certificates(tmp_path: Path, certs: Path) -> None:
    """With require_certificate, a client without a certificate of the store CA is refused even
    with the right password; with one it connects."""
    with _tls_broker(tmp_path / "broker", certs, require_certificate=True) as broker:
        bare = broker.tls_address()
        with pytest.raises(aiomqtt.MqttError):
            async with _hq(bare, broker):
                pass
        own = issue_client(certs, "hq-probe")
        with_cert = broker.tls_address(own.cert_file, own.key_file)
        async with _hq(with_cert, broker) as client:
            await client.publish(f"omnishelf/{STORE}/catalog/item/TR-1", b"{}", qos=1)
        assert isinstance(with_cert.tls_context(), ssl.SSLContext)
