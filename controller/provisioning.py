"""Broker credentials for devices, access points and the controller.

Each client's password is derived from the store secret: HMAC-SHA256(secret, client id),
base64url. This is the symmetric-key group enrollment of Azure DPS: the provisioning side needs
one secret, a device carries only its own derived key, and one leaked device key exposes
nothing else. The broker gets a Mosquitto password file (PBKDF2-SHA512, Mosquitto 2.0's `$7$`
format), so plaintext passwords are never on the broker's disk.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from firmware_protocol.topics import check_id

CONTROLLER_USER = "controller"
HQ_USER = "hq"
_MOSQUITTO_ITERATIONS = 101  # Mosquitto 2.0's default for `$7$`


def new_store_secret() -> str:
    return secrets.token_urlsafe(32)


def client_password(store_secret: str, client_id: str) -> str:
    """The password of one client, derived from the store secret."""
    check_id(client_id, "client id")
    digest = hmac.new(store_secret.encode(), client_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2.0 password-file hash: $7$iterations$salt_b64$pbkdf2_sha512_b64."""
    salt = salt if salt is not None else os.urandom(12)
    derived = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _MOSQUITTO_ITERATIONS, 64)
    salt_b64, derived_b64 = base64.b64encode(salt).decode(), base64.b64encode(derived).decode()
    return f"$7${_MOSQUITTO_ITERATIONS}${salt_b64}${derived_b64}"


def write_password_file(path: Path, store_secret: str, client_ids: Iterable[str]) -> int:
    """Write (atomically) a password file for these clients; returns how many it holds."""
    lines = [
        f"{client_id}:{mosquitto_hash(client_password(store_secret, client_id))}"
        for client_id in sorted(set(client_ids))
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return len(lines)
