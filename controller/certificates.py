"""A store's TLS certificates (PROTOCOL.md §1.2: MQTT over TLS), made with `cryptography`.

One CA per store signs the broker's certificate (its names: 127.0.0.1, localhost and the host
names given) and the clients' certificates (subject CN = the client's username: the controller's
sessions, HQ, a device). Keys are ECDSA P-256, written 0600 beside their certificates. The CA key
is only needed to issue more; keep it off the broker in a real store.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.errors import ControllerError
from firmware_protocol.topics import check_id

CA_DAYS = 3650
LEAF_DAYS = 825  # the longest leaf lifetime browsers still accept; a store re-issues


@dataclass(frozen=True, slots=True)
class Issued:
    cert_file: Path
    key_file: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_bytes(data)
    tmp.replace(path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_ca(directory: Path, store: str) -> Issued:
    """The store CA in `directory` (ca.crt, ca.key), made once and reused after."""
    directory.mkdir(parents=True, exist_ok=True)
    issued = Issued(directory / "ca.crt", directory / "ca.key")
    if issued.cert_file.exists() and issued.key_file.exists():
        return issued
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"omnishelf store CA {store}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(issued.key_file, key)
    _write_cert(issued.cert_file, cert)
    return issued


def _load_ca(ca: Issued) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(ca.cert_file.read_bytes())
        key = serialization.load_pem_private_key(ca.key_file.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ControllerError(f"cannot read the store CA in {ca.cert_file.parent}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ControllerError(f"{ca.key_file} is not an EC key made by omnishelf certs")
    return cert, key


def _issue(
    ca: Issued,
    common_name: str,
    out: Issued,
    *,
    server_names: tuple[str, ...] = (),
) -> Issued:
    ca_cert, ca_key = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in server_names]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(out.key_file, key)
    _write_cert(out.cert_file, cert)
    return out


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue_broker(directory: Path, hosts: tuple[str, ...] = ()) -> Issued:
    """The broker's certificate (broker.crt, broker.key), valid for 127.0.0.1, localhost and
    `hosts`."""
    names = tuple(dict.fromkeys(("127.0.0.1", "localhost", *hosts)))
    out = Issued(directory / "broker.crt", directory / "broker.key")
    common_name = hosts[0] if hosts else "localhost"
    return _issue(_ca_in(directory), common_name, out, server_names=names)


def issue_client(directory: Path, username: str) -> Issued:
    """A client's certificate ({username}.crt, .key), subject CN = its broker username."""
    check_id(username, "username")  # also a safe file name
    out = Issued(directory / f"{username}.crt", directory / f"{username}.key")
    return _issue(_ca_in(directory), username, out)


def _ca_in(directory: Path) -> Issued:
    return Issued(directory / "ca.crt", directory / "ca.key")
