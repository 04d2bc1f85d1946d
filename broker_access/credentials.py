"""Broker identities and their passwords (PROTOCOL.md §1.2).

Each client's password is derived from the store secret: HMAC-SHA256(secret, username),
base64url without padding. This is the symmetric-key group enrollment of Azure DPS: the
provisioning side needs one secret, a client carries only its own derived key, and one leaked
key exposes nothing else.

The broker binds the client id to the username (Mosquitto `use_username_as_clientid`), so a
username is a session: the controller's two sessions and HQ have usernames of their own, scoped
to the store, and no device may be provisioned under one of them (`check_device_id`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from broker_access.errors import BrokerAccessError
from firmware_protocol.errors import ProtocolError
from firmware_protocol.topics import check_id

# Prefixes of the service accounts; a device id never starts with one of them.
RESERVED_PREFIXES = ("controller-", "hq-", "observer-")


def controller_user(store: str) -> str:
    """The controller's device session: every device topic of the store, and its receipts."""
    return f"controller-{store}"


def catalog_user(store: str) -> str:
    """The controller's persistent catalog session: reads HQ's changes of the store."""
    return f"controller-{store}-catalog"


def hq_user(store: str) -> str:
    """HQ's pricing system: writes the store's catalog, reads its receipts."""
    return f"hq-{store}"


def observer_user(store: str) -> str:
    """Store IT's diagnostic account: reads the store's device and catalog topics."""
    return f"observer-{store}"


def service_users(store: str) -> tuple[str, ...]:
    return controller_user(store), catalog_user(store), hq_user(store), observer_user(store)


def client_password(store_secret: str, username: str) -> str:
    """The password of one client, derived from the store secret."""
    try:
        check_id(username, "username")
    except ProtocolError as exc:
        raise BrokerAccessError(str(exc)) from exc
    digest = hmac.new(store_secret.encode(), username.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_device_id(device_id: str) -> str:
    """A device or access point id that may be provisioned: a protocol id that is not a
    service account's name (it would get that account's password and rights)."""
    try:
        check_id(device_id, "device id")
    except ProtocolError as exc:
        raise BrokerAccessError(str(exc)) from exc
    if device_id.startswith(RESERVED_PREFIXES):
        raise BrokerAccessError(f"device id {device_id!r} is reserved for a service account")
    return device_id
