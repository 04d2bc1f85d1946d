"""Where the store broker listens and how to reach it: `mqtt://host:port` (plain TCP, a lab
broker only) or `mqtts://host:port` (TLS, PROTOCOL.md §1.2), with the store CA that signed the
broker's certificate and, where the broker requires one, the client's own certificate."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from broker_access.errors import BrokerAccessError

PLAIN_PORT = 1883
TLS_PORT = 8883


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    ca_file: Path | None = None  # the store CA; None: the system's trust store
    cert_file: Path | None = None  # a client certificate, when the broker requires one
    key_file: Path | None = None

    @classmethod
    def parse(
        cls,
        url: str,
        *,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> BrokerAddress:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in {"mqtt", "tcp", "mqtts", "ssl"} or not parts.hostname:
            raise BrokerAccessError(
                f"broker URL must look like mqtt://host:port or mqtts://host:port, got {url!r}"
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise BrokerAccessError(f"broker URL {url!r} has a bad port") from exc
        tls = parts.scheme in {"mqtts", "ssl"}
        if not tls and (ca_file or cert_file or key_file):
            raise BrokerAccessError(f"TLS files given for a plain broker URL {url!r}: use mqtts://")
        if (cert_file is None) != (key_file is None):
            raise BrokerAccessError("a client certificate needs its key, and a key its certificate")
        default = TLS_PORT if tls else PLAIN_PORT
        return cls(parts.hostname, port or default, tls, ca_file, cert_file, key_file)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The client's TLS context (None for plain TCP): the broker's certificate is verified
        against the CA and the host name, TLS 1.2 at least."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.cert_file is not None and self.key_file is not None:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerAccessError(f"cannot load the TLS files for {self.url}: {exc}") from exc
        return context
