"""The broker's password file, written from the store secret.

Every client's password is derived from the store secret (`broker_access.credentials`). The
broker gets a Mosquitto password file (PBKDF2-SHA512, Mosquitto 2.0's `$7$` format), so
plaintext passwords are never on the broker's disk.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from broker_access.credentials import client_password

_MOSQUITTO_ITERATIONS = 101  # Mosquitto 2.0's default for `$7$`


def new_store_secret() -> str:
    return secrets.token_urlsafe(32)


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2.0 password-file hash: $7$iterations$salt_b64$pbkdf2_sha512_b64."""
    salt = salt if salt is not None else os.urandom(12)
    derived = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _MOSQUITTO_ITERATIONS, 64)
    salt_b64, derived_b64 = base64.b64encode(salt).decode(), base64.b64encode(derived).decode()
    return f"$7${_MOSQUITTO_ITERATIONS}${salt_b64}${derived_b64}"


def write_password_file(path: Path, store_secret: str, usernames: Iterable[str]) -> int:
    """Write (atomically) a password file for these clients; returns how many it holds."""
    lines = [
        f"{username}:{mosquitto_hash(client_password(store_secret, username))}"
        for username in sorted(set(usernames))
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return len(lines)
