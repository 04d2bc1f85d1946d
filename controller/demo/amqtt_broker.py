"""The demo's fallback broker: amqtt (pure Python) in this process, where Mosquitto is missing.

It enforces what deploy/mosquitto/ enforces, through amqtt's plugin hooks:
- authentication: every client gives a username and the password derived from the store secret
  for that username (`broker_access.credentials`); anonymous clients are refused;
- topics (deploy/mosquitto/acl, with the store read from the service account's name):
  `controller-{store}` reads and writes `os1/{store}/#` and writes its receipts;
  `controller-{store}-catalog` reads the store's catalog and writes its receipts; `hq-{store}`
  writes `omnishelf/{store}/catalog/#` and reads `omnishelf/{store}/catalog-status/#`;
  `observer-{store}` reads the store; every other user (a device or an access point) writes only
  `os1/+/up/<its username>/#` and reads only `os1/+/down/<its username>/#`, the Mosquitto `%u`
  patterns. Unlike Mosquitto it does not bind the client id to the username. Reading is
  checked when a client subscribes: a subscription is refused unless the ACL covers every topic
  its filter matches, so a client only ever receives what it may read. Not again for each
  delivery, as Mosquitto does: amqtt 0.12 awaits its plugins while iterating its subscription
  table, and a client subscribing meanwhile makes that delivery fail ("dictionary changed size
  during iteration").

What it does not do: amqtt speaks MQTT 3.1.1 only (the controller and the simulator use 3.1.1),
a refused PUBLISH is dropped silently (as Mosquitto does for 3.1.1 clients), its sessions and
retained messages live in memory only, and it is far slower than Mosquitto (docs/demo.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.contexts import Action  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]
from amqtt.session import Session  # type: ignore[import-untyped]

from broker_access.credentials import client_password
from broker_access.errors import BrokerAccessError

# (may write, may read) per service account, "{s}" its store; "%u" is a device's own username,
# as in Mosquitto's ACL. The catalog session is matched before the device session.
_ACL: tuple[tuple[re.Pattern[str], tuple[tuple[str, ...], tuple[str, ...]]], ...] = (
    (
        re.compile(r"controller-(?P<s>.+)-catalog"),
        (
            (
                "omnishelf/{s}/catalog-status/#",
                "omnishelf/{s}/stock",
                "omnishelf/{s}/alerts/#",
            ),
            ("omnishelf/{s}/catalog/#",),
        ),
    ),
    (
        re.compile(r"controller-(?P<s>.+)"),
        (("os1/{s}/#", "omnishelf/{s}/catalog-status/#"), ("os1/{s}/#",)),
    ),
    (
        re.compile(r"hq-(?P<s>.+)"),
        (
            ("omnishelf/{s}/catalog/#",),
            (
                "omnishelf/{s}/catalog-status/#",
                "omnishelf/{s}/stock",
                "omnishelf/{s}/alerts/#",
            ),
        ),
    ),
    (re.compile(r"observer-(?P<s>.+)"), ((), ("os1/{s}/#", "omnishelf/{s}/#"))),
)
_DEVICE_ACL = (("os1/+/up/%u/#",), ("os1/+/down/%u/#",))


def _rules(username: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    for pattern, (writes, reads) in _ACL:
        if match := pattern.fullmatch(username):
            store = match["s"]
            return (
                tuple(w.replace("{s}", store) for w in writes),
                tuple(r.replace("{s}", store) for r in reads),
            )
    return _DEVICE_ACL


def covers(allowed: str, requested: str) -> bool:
    """Whether the ACL filter `allowed` covers every topic `requested` (a topic or a filter)
    can match. `a/#` also covers `a` itself (MQTT-4.7.1-2)."""
    want, have = requested.split("/"), allowed.split("/")
    for i, level in enumerate(have):
        if level == "#":
            return True
        if i >= len(want):
            return False
        if level == "+":
            if want[i] == "#":
                return False
            continue
        if want[i] != level:
            return False
    return len(want) == len(have)


def permitted(username: str, topic: str, *, write: bool) -> bool:
    """Whether `username` may publish to (`write`) or read `topic` under the shipped ACL."""
    if "%" in username or "+" in username or "#" in username or "/" in username:
        return False  # a crafted username must not widen its own pattern
    writes, reads = _rules(username)
    patterns = writes if write else reads
    return any(covers(p.replace("%u", username), topic) for p in patterns)


class StoreAuth(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """Username + the password the store secret derives for it; nothing else gets in."""

    @dataclass
    class Config:
        store_secret: str = ""

    async def authenticate(self, *, session: Session) -> bool:
        secret: str = self.config.store_secret
        if not secret or not session.username or session.password is None:
            return False
        try:
            expected = client_password(secret, session.username)
        except BrokerAccessError:
            return False  # not a valid client id: never provisioned
        return hmac.compare_digest(expected.encode(), str(session.password).encode())


class StoreAcl(BaseTopicPlugin):  # type: ignore[misc]
    """deploy/mosquitto/acl, with `%u` the client's username."""

    @dataclass
    class Config:
        pass

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        if session is None or not session.username or topic is None or action is None:
            return False
        return permitted(session.username, topic, write=action is Action.PUBLISH)


class _StoreBroker(Broker):  # type: ignore[misc]
    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:  # amqtt leaves open a connection that ends before its CONNECT (a port probe)
            writer.close()

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        if action is Action.RECEIVE:
            return True  # checked at SUBSCRIBE (module docstring: why not per delivery)
        allowed: bool = await super()._topic_filtering(session, topic, action)
        return allowed


@contextlib.asynccontextmanager
async def running_amqtt(
    store_secret: str, port: int, host: str = "127.0.0.1"
) -> AsyncIterator[None]:
    """An amqtt broker listening on host:port until the block ends."""
    for name in ("amqtt", "transitions"):  # per-connection chatter at INFO
        logging.getLogger(name).setLevel(logging.ERROR)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            f"{__name__}.StoreAuth": {"store_secret": store_secret},
            f"{__name__}.StoreAcl": {},
        },
    }
    broker = _StoreBroker(config)
    await broker.start()
    try:
        yield
    finally:
        await broker.shutdown()
