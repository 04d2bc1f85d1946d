"""The MQTT ceiling: the same count and size of messages as a reprice, through the same broker,
with minimal paho clients, so that the pipeline's message rate can be read as a fraction of it.

One paho publisher, authenticated as the controller user, publishes `count` messages of
`payload_bytes` on the down topics of `gateways` gateways (round-robin, the `chunk` channel, not
retained); one paho subscriber per gateway, authenticated as that gateway (the shipped ACL lets it
read only its own down subtree), receives them. No rendering, no database, no codec: only MQTT.
Timed from the first publish to the last message received (end to end) and to the last PUBACK
(publish only). Publisher and subscribers are threads of this one Python process (paho's network
loop threads), so they share its interpreter lock: the figure is the ceiling of a Python paho
client pair on this broker, not of Mosquitto alone.

    .venv/bin/python -m bench.mqtt_ceiling --quick
    .venv/bin/python -m bench.mqtt_ceiling --count 40000 --size 600 --gateways 20
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from bench.harness import Section, print_section
from broker_access.address import BrokerAddress
from broker_access.credentials import client_password, controller_user
from controller.link import SessionConfig
from controller.local_broker import LocalBroker
from firmware_protocol.topics import device_subscription

# The publisher's window of unacknowledged QoS 1 messages. 0 is paho's "no limit": with a limit,
# paho scans its in-flight messages on every PUBACK to find queued ones to send
# (`Client._update_inflight`), a cost per message that grows with the window. The controller's
# session has a window (controller/link.py), so a second QoS 1 row uses the same one.
UNLIMITED = 0
CONTROLLER_INFLIGHT = SessionConfig(BrokerAddress("localhost", 1883), "-", "-", "-").max_inflight
CONNECT_TIMEOUT_S = 10.0
MAX_UNACKED = 60_000  # below the 65,535 packet ids of MQTT


class CeilingError(RuntimeError):
    """The measurement could not finish: a client failed, or messages did not arrive in time."""


@dataclass
class _Counter:
    """A count shared by paho's loop threads; `done` is set when it reaches `target`."""

    target: int
    value: int = 0
    last_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)

    def add(self) -> None:
        now = time.perf_counter()
        with self.lock:
            self.value += 1
            self.last_at = now
            if self.value >= self.target:
                self.done.set()


@dataclass
class _Connection:
    """One paho client and what its callbacks reported."""

    client: mqtt.Client
    connected: threading.Event = field(default_factory=threading.Event)
    subscribed: threading.Event = field(default_factory=threading.Event)
    problem: str | None = None


def _connect(
    broker: LocalBroker, client_id: str, user: str, *, inflight: int = 20, **callbacks: Any
) -> _Connection:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    conn = _Connection(client)
    client.user_data_set(conn)
    client.username_pw_set(user, client_password(broker.store_secret, user))
    client.max_inflight_messages_set(inflight)

    def on_connect(
        _client: mqtt.Client, conn: _Connection, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            conn.problem = f"{client_id}: connection refused: {reason}"
        conn.connected.set()

    def on_disconnect(
        _client: mqtt.Client, conn: _Connection, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure and conn.problem is None:
            conn.problem = f"{client_id}: disconnected: {reason}"

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    for name, callback in callbacks.items():
        setattr(client, name, callback)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    return conn


def _wait(event: threading.Event, conns: list[_Connection], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not event.wait(0.05):
        problems = [c.problem for c in conns if c.problem]
        if problems:
            raise CeilingError(f"mqtt ceiling: {what}: {'; '.join(problems[:3])}")
        if time.monotonic() > deadline:
            raise CeilingError(f"mqtt ceiling: timed out after {within_s:.0f} s: {what}")


def _wait_all(pick: str, conns: list[_Connection], within_s: float, what: str) -> None:
    """Wait for the event named `pick` of every connection; raise on the first problem."""
    deadline = time.monotonic() + within_s
    for conn in conns:
        event: threading.Event = getattr(conn, pick)
        _wait(event, conns, max(0.1, deadline - time.monotonic()), what)
        if conn.problem:
            raise CeilingError(f"mqtt ceiling: {what}: {conn.problem}")


def _on_subscribe(
    _client: mqtt.Client, conn: _Connection, _mid: int, codes: list[ReasonCode], _props: Any
) -> None:
    failed = [code for code in codes if code.is_failure]
    if failed:
        conn.problem = f"subscription refused: {failed[0]}"
    conn.subscribed.set()


@dataclass
class _Rig:
    """Subscribers (one per gateway) and the publisher, connected and subscribed."""

    store: str
    gateways: list[str]
    subscribers: list[_Connection]
    publisher: _Connection
    received: _Counter
    acked: _Counter

    @property
    def conns(self) -> list[_Connection]:
        return [*self.subscribers, self.publisher]

    def close(self) -> None:
        for conn in self.conns:
            conn.client.disconnect()
            conn.client.loop_stop()


def _rig(broker: LocalBroker, qos: int, count: int, gateways: int, inflight: int) -> _Rig:
    tag = secrets.token_hex(3)
    ids = [f"ceil{tag}-gw{i:03d}" for i in range(gateways)]
    broker.add_store(f"ceiling{tag}")
    broker.add_clients(ids)
    received, acked = _Counter(count), _Counter(count)
    subscribers: list[_Connection] = []
    publisher: _Connection | None = None
    try:
        subscribers.extend(
            _connect(
                broker,
                gateway,
                gateway,
                on_message=lambda _c, _conn, _msg: received.add(),
                on_subscribe=_on_subscribe,
            )
            for gateway in ids
        )
        publisher = _connect(
            broker,
            controller_user(f"ceiling{tag}"),
            controller_user(f"ceiling{tag}"),
            inflight=inflight,
            on_publish=lambda _c, _conn, _mid, _reason, _props: acked.add(),
        )
        rig = _Rig(f"ceiling{tag}", ids, subscribers, publisher, received, acked)
        _wait_all("connected", rig.conns, CONNECT_TIMEOUT_S, "connecting")
        for sub, gateway in zip(subscribers, ids, strict=True):
            sub.client.subscribe(device_subscription(rig.store, gateway), qos=qos)
        _wait_all("subscribed", subscribers, CONNECT_TIMEOUT_S, "subscribing")
    except BaseException:
        for conn in [*subscribers, *([publisher] if publisher else [])]:
            conn.client.disconnect()
            conn.client.loop_stop()
        raise
    return rig


def _publish_all(rig: _Rig, qos: int, count: int, payload: bytes, timeout: float) -> float:
    """Publish round-robin; returns when the last is acknowledged (QoS 1) or written (QoS 0)."""
    topics = [f"os1/{rig.store}/down/{gw}/lbl-{i:05d}/chunk" for i, gw in enumerate(rig.gateways)]
    client = rig.publisher.client
    info: mqtt.MQTTMessageInfo | None = None
    for i in range(count):
        if qos > 0 and i >= MAX_UNACKED and i % MAX_UNACKED == 0:
            # MQTT packet ids are 16 bits: at most 65,535 QoS 1 messages can be unacknowledged,
            # so a larger count goes out in waves (only the unlimited window reaches this).
            deadline = time.monotonic() + timeout
            while rig.acked.value < i - MAX_UNACKED // 2:
                if time.monotonic() > deadline:
                    raise CeilingError(f"mqtt ceiling: {rig.acked.value} of {i} PUBACKs")
                time.sleep(0.001)
        info = client.publish(topics[i % len(topics)], payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise CeilingError(f"mqtt ceiling: publish {i} failed: {mqtt.error_string(info.rc)}")
    if qos == 0:
        assert info is not None
        info.wait_for_publish(timeout)  # written to the socket: as far as QoS 0 goes
        return time.perf_counter()
    _wait(rig.acked.done, rig.conns, timeout, f"{rig.acked.value} of {count} PUBACKs")
    return rig.acked.last_at


def _await_delivery(rig: _Rig, qos: int, count: int, timeout: float) -> int:
    """Wait for every message; returns how many arrived (QoS 0 may lose some)."""
    received = rig.received
    if qos > 0:
        _wait(received.done, rig.conns, timeout, f"{received.value} of {count} messages received")
        return received.value
    # QoS 0: until all arrived or none arrived for a second.
    seen = -1
    deadline = time.monotonic() + timeout
    while not received.done.wait(1.0) and received.value != seen:
        seen = received.value
        if time.monotonic() > deadline:
            break
    return received.value


def measure(
    broker: LocalBroker,
    *,
    qos: int,
    count: int,
    payload_bytes: int,
    gateways: int,
    inflight: int = UNLIMITED,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Publish `count` messages spread over `gateways` subscribers; one row of results."""
    if count < 1 or gateways < 1 or payload_bytes < 0:
        raise ValueError("count and gateways must be at least 1, payload_bytes at least 0")
    timeout = timeout_s if timeout_s is not None else 60.0 + count / 1000
    rig = _rig(broker, qos, count, gateways, inflight)
    try:
        started = time.perf_counter()
        published_at = _publish_all(rig, qos, count, os.urandom(payload_bytes), timeout)
        delivered = _await_delivery(rig, qos, count, timeout)
    finally:
        rig.close()
    if delivered == 0:
        raise CeilingError("mqtt ceiling: no message arrived")
    seconds = rig.received.last_at - started
    return {
        "qos": qos,
        "inflight": inflight or "unlimited",
        "messages": count,
        "received": delivered,
        "payload_bytes": payload_bytes,
        "gateways": gateways,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(delivered / seconds),
        "mb_per_s": round(delivered * payload_bytes / seconds / 1e6, 2),
        "publish_seconds": round(published_at - started, 3),
        "publish_msgs_per_s": round(count / (published_at - started)),
    }


def run(broker: LocalBroker, *, count: int, payload_bytes: int, gateways: int) -> Section:
    """Scenario "mqtt": QoS 1 (what the pipeline uses), then QoS 0 for comparison."""
    started = time.perf_counter()
    shape = {"count": count, "payload_bytes": payload_bytes, "gateways": gateways}
    rows = [
        measure(broker, qos=1, **shape),
        measure(broker, qos=1, inflight=CONTROLLER_INFLIGHT, **shape),
        measure(broker, qos=0, **shape),
    ]
    notes = [
        "One paho publisher as the controller user -> Mosquitto (the shipped config: auth, ACL) "
        f"-> {gateways} paho subscribers as gateway users, each on its own down subtree; "
        "messages not retained, round-robin over the gateways.",
        "seconds / msgs_per_s / mb_per_s: first publish to last message received; mb_per_s "
        "counts payload bytes only (1 MB = 10^6 bytes). publish_*: first publish to the last "
        "PUBACK (QoS 1) or to the last message written to the socket (QoS 0).",
        "inflight: the publisher's window of unacknowledged QoS 1 messages; unlimited is "
        "paho's fastest, because with a window paho scans the in-flight messages at every "
        f"PUBACK. The second row uses the controller's window ({CONTROLLER_INFLIGHT}).",
        "Publisher and subscribers share one Python process (paho loop threads, one "
        "interpreter lock).",
    ]
    qos0 = rows[-1]
    if qos0["received"] < qos0["messages"]:
        notes.append(f"QoS 0 lost {qos0['messages'] - qos0['received']} messages.")
    return Section(
        scenario="mqtt",
        title="The MQTT ceiling: minimal paho clients, same count and size of messages",
        rows=rows,
        notes=notes,
        seconds=round(time.perf_counter() - started, 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="5,000 messages")
    parser.add_argument("--count", type=int, default=40_000, help="messages (default 40,000)")
    parser.add_argument("--size", type=int, default=600, help="payload bytes (default 600)")
    parser.add_argument("--gateways", type=int, default=20, help="subscribers (default 20)")
    args = parser.parse_args()
    count = min(args.count, 5_000) if args.quick else args.count
    with (
        tempfile.TemporaryDirectory(prefix="bench-broker-") as tmp,
        LocalBroker(Path(tmp), secrets.token_hex(16)) as broker,
    ):
        section = run(broker, count=count, payload_bytes=args.size, gateways=args.gateways)
    print_section(section)


if __name__ == "__main__":
    main()
