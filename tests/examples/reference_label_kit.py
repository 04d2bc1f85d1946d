"""The reference label as a process, and a bare controller to talk to it, for the tests.

The label runs as the firmware engineer would run it (`python examples/reference_label/label.py`)
with its own password in a file; the test side uses the store's controller account and the
omnishelf codec (the label itself never imports it). Every process started here is ended by the
context manager that started it, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker_access.credentials import controller_user, observer_user
from controller.local_broker import LocalBroker
from firmware_protocol import decode, encode
from firmware_protocol.messages import Message

LABEL = Path(__file__).resolve().parents[2] / "examples" / "reference_label" / "label.py"
STOP_TIMEOUT_S = 10.0


@contextlib.contextmanager
def reference_label(
    broker: LocalBroker, store: str, device: str, state_dir: Path, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Provision `device` on the broker and run the reference label until the block ends."""
    broker.add_store(store)
    broker.add_clients({device})
    state_dir.mkdir(parents=True, exist_ok=True)
    password_file = state_dir.parent / f"{device}.password"
    password_file.write_text(broker.password(device) + "\n", encoding="utf-8")
    log_path = state_dir.parent / f"{device}.log"
    command = [sys.executable, str(LABEL), "--broker", broker.url, "--store", store]
    command += ["--device", device, "--state-dir", str(state_dir)]
    command += ["--password-file", str(password_file), "--log-level", "DEBUG", *extra]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process)
        print(log_path.read_text(encoding="utf-8", errors="replace")[-4000:])


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL if it does not end; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


class BareController:
    """The controller's account on the store's up topics: decoded messages in a queue."""

    def __init__(self, broker: LocalBroker, store: str, device: str) -> None:
        self.store, self.device = store, device
        self.received: queue.Queue[tuple[str, bool, Message]] = queue.Queue()
        broker.add_store(store)
        user = self.user = controller_user(store)
        self.host, self.port = broker.host, broker.port
        self.observer = observer_user(store)
        self.observer_password = broker.password(self.observer)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
        self.client.username_pw_set(user, broker.password(user))
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe(f"os1/{store}/up/#", qos=1)
        time.sleep(0.2)  # the SUBACK: nothing the label publishes first is missed

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        if message.payload:
            channel = message.topic.rsplit("/", 1)[1]
            self.received.put((channel, bool(message.retain), decode(message.payload)))

    def publish(self, channel: str, msg: Message | bytes, *, retain: bool = False) -> None:
        topic = f"os1/{self.store}/down/{self.device}/{self.device}/{channel}"
        payload = msg if isinstance(msg, bytes) else encode(msg)
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def expect(
        self, wanted: Callable[[str, bool, Message], bool], timeout_s: float = 10.0
    ) -> tuple[str, bool, Message]:
        """The first message (channel, retained, message) that `wanted` accepts."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self.received.get(timeout=left)
            except queue.Empty:
                break
            if wanted(*item):
                return item
        raise AssertionError(f"nothing wanted arrived within {timeout_s} s")

    def retained(self, channel: str, timeout_s: float = 3.0) -> Message | None:
        """What the broker holds retained on the label's up `channel` (a fresh subscription)."""
        found: queue.Queue[Message] = queue.Queue()
        # The observer account: a second session under the controller's name would end the first.
        reader = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.observer)
        reader.username_pw_set(self.observer, self.observer_password)

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            if message.retain and message.payload:
                found.put(decode(message.payload))

        reader.on_message = on_message
        reader.connect(self.host, self.port)
        reader.loop_start()
        reader.subscribe(f"os1/{self.store}/up/{self.device}/{self.device}/{channel}", qos=1)
        try:
            return found.get(timeout=timeout_s)
        except queue.Empty:
            return None
        finally:
            reader.loop_stop()
            reader.disconnect()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@contextlib.contextmanager
def bare_controller(broker: LocalBroker, store: str, device: str) -> Iterator[BareController]:
    controller = BareController(broker, store, device)
    try:
        yield controller
    finally:
        controller.close()


# ------------------------------------------------------------------ `omnishelf conformance`

OMNISHELF = Path(sys.executable).with_name("omnishelf")
CONFORMANCE_TIMEOUT_S = 180.0

# issue 13's table: each deliberate defect of the reference label and the one scenario it fails.
DEFECT_FAILS = {
    "birth-not-retained": "birth",
    "full-ignores-zlib": "full-image",
    "delta-ignores-xor": "delta",
    "applies-stale": "stale",
    "page-switch-no-report": "page-switch",
    "no-resume": "lost-chunk",
    "ignores-base-hash": "lost-base",
    "no-payload-crc": "integrity",
    "rebirth-new-session": "rebirth",
    "ignores-fast-wake": "commands",
    "no-downgrade-check": "firmware-refused",
    "no-frame-crc": "malformed",
    "session-not-persisted": "offline-catch-up",
    "no-txn-memory": "commands",
}


def run_conformance(
    broker: LocalBroker, store: str, device: str, out: Path, *scenarios: str
) -> tuple[int, dict[str, str], str]:
    """`omnishelf conformance` as a user runs it: (exit status, outcome per scenario, output)."""
    command = [str(OMNISHELF), "conformance", "--broker", broker.url, "--store", store]
    command += ["--device", device, "--json", str(out)]
    for name in scenarios:
        command += ["--scenario", name]
    env = os.environ | {"OMNISHELF_STORE_SECRET": broker.store_secret}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=CONFORMANCE_TIMEOUT_S, check=False
    )
    output = done.stdout + done.stderr
    print(output)
    results = json.loads(out.read_text(encoding="utf-8"))["results"] if out.exists() else []
    return done.returncode, {r["name"]: r["outcome"] for r in results}, output
