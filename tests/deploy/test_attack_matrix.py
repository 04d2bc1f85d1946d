"""The attack matrix of the shipped broker configuration (issue 12, "Must show"): for each role,
what it may publish, subscribe and take over on a real Mosquitto, printed as a table.

MQTT 3.1.1 refuses silently (a refused PUBLISH is still PUBACKed), so every cell is observed, not
inferred: publishes are watched by the stores' observer accounts, subscriptions by probes that
privileged accounts publish into them. A fence message published after the attempts (QoS 1: the
broker has routed everything acknowledged before it) tells when to stop waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aiomqtt
import pytest

from broker_access.credentials import catalog_user, controller_user, hq_user, observer_user
from controller.local_broker import LocalBroker

ALLOWED, REFUSED, NA = "allowed", "refused", "-"
BIG = 30 * 1024 * 1024  # finding 4: a label retained 5 x 30 MB


@dataclass(frozen=True)
class Role:
    name: str
    username: str
    kind: str  # device, hq, controller, catalog


@dataclass
class Watch:
    """Markers seen by one client's subscriptions."""

    client: aiomqtt.Client
    seen: set[str] = field(default_factory=set)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            if isinstance(payload, bytes | bytearray) and payload.startswith(b"M:"):
                marker = bytes(payload[2:80]).split(b"|", 1)[0].decode()
                async with self.arrived:
                    self.seen.add(marker)
                    self.arrived.notify_all()

    async def wait_for(self, marker: str) -> None:
        async with asyncio.timeout(10), self.arrived:
            await self.arrived.wait_for(lambda: marker in self.seen)


def _payload(marker: str, size: int = 0) -> bytes:
    head = f"M:{marker}|".encode()
    return head + b"x" * max(0, size - len(head))


def _client(broker: LocalBroker, username: str, identifier: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=identifier or username,
        username=username,
        password=broker.password(username),
        protocol=aiomqtt.ProtocolVersion.V311,
        timeout=5,
    )


@contextlib.asynccontextmanager
async def _watching(client: aiomqtt.Client) -> AsyncIterator[Watch]:
    watch = Watch(client)
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task


class Matrix:
    def __init__(self, broker: LocalBroker, store: str, other: str, victim_label: str):
        self.broker, self.s, self.s2, self.victim = broker, store, other, victim_label

    def publishes(self, role: Role) -> list[tuple[str, str, int, bool]]:
        """(column, topic, payload size, retained) of every publish attempt."""
        s, s2, me, victim = self.s, self.s2, role.username, self.victim
        own = {
            "device": f"os1/{s}/up/{me}/{me}/telemetry",
            "hq": f"omnishelf/{s}/catalog/item/TR-1",
            "controller": f"os1/{s}/down/{victim}/{victim}/cmd",
            "catalog": f"omnishelf/{s}/catalog-status/receipt",
        }[role.kind]
        attempts = [
            ("publish on its own topic", own, 0, False),
            ("publish as another device", f"os1/{s}/up/{victim}/{victim}/birth", 0, False),
            (
                "birth for another label via own gateway",
                f"os1/{s}/up/{me}/{victim}/birth",
                0,
                False,
            ),
            ("command to a device", f"os1/{s}/down/{victim}/{victim}/cmd", 0, False),
            ("catalog change", f"omnishelf/{s}/catalog/item/TR-9", 0, False),
            ("another store's catalog", f"omnishelf/{s2}/catalog/item/TR-9", 0, False),
            ("another store's device tree", f"os1/{s2}/up/{me}/{me}/birth", 0, False),
            ("birth as gateway named after itself", f"os1/{s}/up/{me}/{me}/birth", 0, False),
            ("30 MB retained on its own topic", own.replace("telemetry", "birth"), BIG, True),
        ]
        if role.kind == "device":
            attempts += [
                ("retained on a non-state channel", f"os1/{s}/up/{me}/{me}/event", 0, True),
                ("100 KB message", f"os1/{s}/up/{me}/{me}/telemetry", 100_000, False),
            ]
        return attempts

    def subscriptions(self, role: Role) -> list[tuple[str, str, str, str]]:
        """(column, filter, prober username, probe topic) of every subscribe attempt."""
        s, s2, me, victim = self.s, self.s2, role.username, self.victim
        own = {
            "device": (f"os1/{s}/down/{me}/#", controller_user(s), f"os1/{s}/down/{me}/{me}/cmd"),
            "hq": (
                f"omnishelf/{s}/catalog-status/#",
                controller_user(s),
                f"omnishelf/{s}/catalog-status/receipt",
            ),
            "controller": (f"os1/{s}/up/#", victim, f"os1/{s}/up/{victim}/{victim}/event"),
            "catalog": (f"omnishelf/{s}/catalog/#", hq_user(s), f"omnishelf/{s}/catalog/batch"),
        }[role.kind]
        return [
            ("subscribe to its own topics", *own),
            (
                "subscribe to another device's commands",
                f"os1/{s}/down/{victim}/#",
                controller_user(s),
                f"os1/{s}/down/{victim}/{victim}/cmd",
            ),
            (
                "subscribe to every device's reports",
                f"os1/{s}/up/#",
                victim,
                f"os1/{s}/up/{victim}/{victim}/reported",
            ),
            (
                "subscribe to the catalog",
                f"omnishelf/{s}/catalog/#",
                hq_user(s),
                f"omnishelf/{s}/catalog/item/TR-5",
            ),
            (
                "subscribe to another store",
                f"os1/{s2}/#",
                controller_user(s2),
                f"os1/{s2}/down/{victim}/{victim}/cmd",
            ),
        ]

    async def takeover(self, role: Role) -> str:
        """Connect with the client id of a session held meanwhile by the controller."""
        victim = catalog_user(self.s) if role.kind != "catalog" else controller_user(self.s)
        topic = (
            f"omnishelf/{self.s}/catalog-status/alive"
            if role.kind != "catalog"
            else f"os1/{self.s}/down/{self.victim}/{self.victim}/cmd"
        )
        async with _client(self.broker, victim) as session:
            async with _client(self.broker, role.username, identifier=victim):
                pass
            try:
                await session.publish(topic, b"still here", qos=1)
            except aiomqtt.MqttError:
                return ALLOWED  # the session was taken over
        return REFUSED

    async def row(self, role: Role, watches: dict[str, Watch]) -> dict[str, str]:
        cells = {"client id of another session": await self.takeover(role)}
        async with AsyncExitStack() as stack:
            clients = {role.username: await stack.enter_async_context(self._connect(role.username))}
            probers = {p for _, _, p, _ in self.subscriptions(role)} | {controller_user(self.s)}
            probers |= {controller_user(self.s2)}
            for username in sorted(probers - clients.keys()):
                clients[username] = await stack.enter_async_context(self._connect(username))
            me = clients[role.username]
            mine = await stack.enter_async_context(_watching(me))
            for n, (column, topic, size, retain) in enumerate(self.publishes(role)):
                marker = f"{role.name}/pub{n}"
                await me.publish(topic, _payload(marker, size), qos=1, retain=retain)
                cells[column] = marker
                if retain:  # leave no retained message behind (an empty one deletes it)
                    await me.publish(topic, b"", qos=1, retain=True)
            for n, (column, pattern, _prober, _topic) in enumerate(self.subscriptions(role)):
                await me.subscribe(pattern, qos=1)
                cells[column] = f"{role.name}/sub{n}"
            for n, (_column, _pattern, prober, topic) in enumerate(self.subscriptions(role)):
                await clients[prober].publish(topic, _payload(f"{role.name}/sub{n}"), qos=1)
            await self._fence(role, clients, watches, mine)
            return {
                column: _cell(value, watches, mine, column.startswith("subscribe"))
                for column, value in cells.items()
            }

    @contextlib.asynccontextmanager
    async def _connect(self, username: str) -> AsyncIterator[aiomqtt.Client]:
        async with _client(self.broker, username) as client:
            yield client

    async def _fence(
        self,
        role: Role,
        clients: dict[str, aiomqtt.Client],
        watches: dict[str, Watch],
        mine: Watch,
    ) -> None:
        """Everything acknowledged so far has been routed once these markers arrive."""
        fence = f"{role.name}/fence"
        for store in (self.s, self.s2):
            topic = f"os1/{store}/down/fence/fence/cmd"
            await clients[controller_user(store)].publish(topic, _payload(fence), qos=1)
            await watches[store].wait_for(fence)
        _pattern, prober, topic = self.subscriptions(role)[0][1:]
        await clients[prober].publish(topic, _payload(fence), qos=1)
        await mine.wait_for(fence)


def _cell(marker: str, watches: dict[str, Watch], mine: Watch, subscription: bool) -> str:
    if marker in (ALLOWED, REFUSED):
        return marker
    seen = mine.seen if subscription else set().union(*(w.seen for w in watches.values()))
    return ALLOWED if marker in seen else REFUSED


DEVICE = {
    "client id of another session": REFUSED,
    "publish on its own topic": ALLOWED,
    "publish as another device": REFUSED,
    "birth for another label via own gateway": ALLOWED,  # refused by the controller instead
    "command to a device": REFUSED,
    "catalog change": REFUSED,
    "another store's catalog": REFUSED,
    # The test broker serves two stores; a store's broker serves one (README.md).
    "another store's device tree": ALLOWED,
    "birth as gateway named after itself": ALLOWED,
    "30 MB retained on its own topic": REFUSED,
    "retained on a non-state channel": REFUSED,
    "100 KB message": REFUSED,
    "subscribe to its own topics": ALLOWED,
    "subscribe to another device's commands": REFUSED,
    "subscribe to every device's reports": REFUSED,
    "subscribe to the catalog": REFUSED,
    "subscribe to another store": REFUSED,
}
EXPECTED = {
    "device": DEVICE,
    "hq": DEVICE
    | {
        "publish as another device": REFUSED,
        "birth for another label via own gateway": REFUSED,
        "catalog change": ALLOWED,
        "another store's device tree": REFUSED,
        "birth as gateway named after itself": REFUSED,
        "30 MB retained on its own topic": ALLOWED,  # HQ's batches: no size limit
        "retained on a non-state channel": NA,
        "100 KB message": NA,
    },
    "controller": dict.fromkeys(DEVICE, ALLOWED)
    | {
        "client id of another session": REFUSED,
        "catalog change": REFUSED,
        "another store's catalog": REFUSED,
        "another store's device tree": REFUSED,
        "birth for another label via own gateway": REFUSED,  # the controller is no gateway
        "birth as gateway named after itself": REFUSED,
        "subscribe to the catalog": REFUSED,
        "subscribe to another store": REFUSED,
        "retained on a non-state channel": NA,
        "100 KB message": NA,
    },
    "catalog": dict.fromkeys(DEVICE, REFUSED)
    | {
        "publish on its own topic": ALLOWED,
        "30 MB retained on its own topic": ALLOWED,
        "subscribe to its own topics": ALLOWED,
        "subscribe to the catalog": ALLOWED,
        "retained on a non-state channel": NA,
        "100 KB message": NA,
    },
}


def _table(rows: dict[str, dict[str, str]]) -> str:
    columns = list(DEVICE)
    width = max(len(c) for c in columns)
    names = list(rows)
    lines = [" " * width + " | " + " | ".join(f"{n:>9}" for n in names)]
    lines += [
        f"{column:<{width}} | " + " | ".join(f"{rows[n].get(column, NA):>9}" for n in names)
        for column in columns
    ]
    return "\n".join(lines)


@pytest.mark.timeout(120)
async def test_attack_matrix_of_the_shipped_broker(broker: LocalBroker, store_id: str) -> None:
    """Each role (label, access point, sensor, fitting room, HQ, the controller's two sessions)
    may do exactly the allowed cells: no session takeover, no other device's topics, HQ only its
    own store's catalog, devices' size and retain limits (findings 3 and 4)."""
    other = f"{store_id}o"
    broker.add_store(store_id)
    broker.add_store(other)
    tag = store_id
    victim = f"lbl-{tag}-v"
    roles = [
        Role("label", f"lbl-{tag}", "device"),
        Role("AP", f"ap-{tag}", "device"),
        Role("sensor", f"sen-{tag}", "device"),
        Role("fitting", f"fit-{tag}", "device"),
        Role("hq", hq_user(store_id), "hq"),
        Role("ctl", controller_user(store_id), "controller"),
        Role("catalog", catalog_user(store_id), "catalog"),
    ]
    broker.add_clients([victim] + [r.username for r in roles if r.kind == "device"])
    matrix = Matrix(broker, store_id, other, victim)
    rows: dict[str, dict[str, str]] = {}
    async with AsyncExitStack() as stack:
        watches: dict[str, Watch] = {}
        for store in (store_id, other):
            observer = await stack.enter_async_context(_client(broker, observer_user(store)))
            await observer.subscribe(f"os1/{store}/#", qos=1)
            await observer.subscribe(f"omnishelf/{store}/#", qos=1)
            watches[store] = await stack.enter_async_context(_watching(observer))
        for role in roles:
            rows[role.name] = await matrix.row(role, watches)
    table = _table(rows)
    print(f"\nattack matrix of deploy/mosquitto (store {store_id}):\n{table}")
    for role in roles:
        expected = {k: v for k, v in EXPECTED[role.kind].items() if v != NA}
        assert rows[role.name] == expected, f"{role.name}:\n{table}"
