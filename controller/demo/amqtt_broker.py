"""The demo's fallback broker: amqtt (pure Python) in this process, where Mosquitto is missing.

It enforces what deploy/mosquitto/ enforces, through amqtt's plugin hooks:
- authentication: every client gives a username and the password derived from the store secret
  for that username (`provisioning.client_password`); anonymous clients are refused;
- topics (deploy/mosquitto/acl): `controller` reads and writes `os1/#` and `omnishelf/#`; `hq`
  writes `omnishelf/+/catalog/#` and reads `omnishelf/+/catalog-status/#`; every other user (a
  device or an access point) writes only `os1/+/up/<its username>/#` and reads only
  `os1/+/down/<its username>/#`, the Mosquitto `%u` patterns. Reading is checked when a client
  subscribes: a subscription is refused unless the ACL covers every topic its filter matches, so
  a client only ever receives what it may read. Not again for each delivery, as Mosquitto does:
  amqtt 0.12 awaits its plugins while iterating its subscription table, and a client
  subscribing meanwhile makes that delivery fail ("dictionary changed size during iteration").

What it does not do: amqtt speaks MQTT 3.1.1 only (the controller and the simulator use 3.1.1),
a refused PUBLISH is dropped silently (as Mosquitto does for 3.1.1 clients), its sessions and
retained messages live in memory only, and it is far slower than Mosquitto (docs/demo.md).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.contexts import Action  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]
from amqtt.session import Session  # type: ignore[import-untyped]

from controller.provisioning import CONTROLLER_USER, HQ_USER, client_password
from firmware_protocol.errors import ProtocolError

# (may write, may read) per user; "%u" is the client's own username, as in Mosquitto's ACL.
_ACL: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    CONTROLLER_USER: (("os1/#", "omnishelf/#"), ("os1/#", "omnishelf/#")),
    HQ_USER: (("omnishelf/+/catalog/#",), ("omnishelf/+/catalog-status/#",)),
}
_DEVICE_ACL = (("os1/+/up/%u/#",), ("os1/+/down/%u/#",))


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
    writes, reads = _ACL.get(username, _DEVICE_ACL)
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
        except ProtocolError:
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
