"""A reference e-paper label for the omnishelf device protocol, written from PROTOCOL.md alone.

A direct label (its own gateway; kind LABEL) that connects to a store's MQTT broker, shows images
sent as Desired + Chunks (keeping them as page slots in a state directory, as a label keeps them in
flash), answers commands and offers firmware. It imports nothing from the omnishelf packages: only
the standard library, paho-mqtt 2 (its VERSION2 callback API) and `cryptography` for Ed25519. It
exists to prove that the document is enough to build a device, and to be the worked example of
docs/building-a-device.md.

Files (an example may be bigger than the product's modules; each is one concern):
  frames.py    §3 frames and §4 message layouts, §3.5 checks
  state.py     what survives a reboot: session, R, H, page slots, txn memory (§4.6, §4.7, §7.1)
  transfer.py  §4.7 desired/reported rules, §5.5 assembly, §5.6 resume
  firmware.py  §7.7 firmware offers and downloads
  label.py     this file: credentials (§1.2), the MQTT connection, commands (§7), the clock

One thread: paho's `loop()` is called from the main loop, its callbacks only record what
happened, and the main loop acts on it, so nothing here needs a lock.

`--defect NAME` switches on one deliberate fault (see DEFECTS); the conformance check must fail
exactly the scenario that covers it.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import hmac
import logging
import os
import random
import re
import signal
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from firmware import RFC8032_TEST_KEY, FirmwareUpdater
from frames import (
    APPLIED,
    BOOT,
    BUTTON_PRESS,
    MODELS,
    OK,
    REFUSED,
    UP_CHANNELS,
    UP_DELIVERY,
    Chunk,
    Command,
    Desired,
    FirmwareOffer,
    FrameError,
    Response,
    birth,
    command_result,
    death,
    decode_down,
    event,
    frame_bytes,
    reported,
    telemetry,
)
from paho.mqtt.enums import CallbackAPIVersion
from state import LabelStore
from transfer import ImageReceiver, compress_bound

log = logging.getLogger("reference_label")

DEFECTS = {
    "birth-not-retained": "publishes its Birth without the retain flag",
    "full-ignores-zlib": "takes FULL payloads as uncompressed",
    "delta-ignores-xor": "takes a DELTA payload as the planes",
    "applies-stale": "accepts lower revisions",
    "page-switch-no-report": "publishes no Reported on a page switch",
    "no-resume": "never sends MISSING_CHUNKS",
    "ignores-base-hash": "applies deltas to whatever it holds",
    "no-payload-crc": "skips the payload CRC check",
    "rebirth-new-session": "answers Rebirth with a new session",
    "ignores-fast-wake": "never answers FastWake",
    "no-downgrade-check": "accepts firmware that is not newer",
    "no-frame-crc": "does not check the frame CRC",
    "session-not-persisted": "reuses its session after a reboot",
    "no-txn-memory": "runs a command again when its txn is repeated",
}
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # §2.2, matched as a whole string
RESERVED_PREFIXES = ("controller-", "hq-", "observer-")  # service accounts (§1.2)
KEEPALIVE_S = 60  # §1.2: at most 60 s for a directly connected device
BACKOFF_FIRST_S, BACKOFF_CAP_S = 1.0, 30.0  # §1.2: 1 s doubling to a cap, +-20 % jitter
STABLE_S = 5.0  # §1.2: the backoff starts over once a connection has lasted 5 s
CONNACK_TIMEOUT_S = 10.0
PUBACK_TIMEOUT_S = 5.0
PASSWORD_ENV = "OMNISHELF_DEVICE_PASSWORD"  # noqa: S105 - a variable name


def device_password(store_secret: str, client_id: str) -> str:
    """§1.2 (D1): base64url without padding of HMAC-SHA256(store secret, client id)."""
    digest = hmac.new(store_secret.encode(), client_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Label:
    """One direct label: connection, commands and clock; images in ImageReceiver."""

    def __init__(self, args: argparse.Namespace, password: str) -> None:
        url = urllib.parse.urlsplit(args.broker)
        self.host, self.tls = url.hostname or "localhost", url.scheme == "mqtts"
        self.port = url.port or (8883 if self.tls else 1883)
        self.ca_file: str | None = args.ca_file
        self.store_id, self.device_id, self.password = args.store, args.device, password
        self.model = MODELS[args.model]
        self.pages, self.max_packet, self.checkin_s = args.pages, args.max_packet, args.checkin
        self.telemetry_s, self.reboot_s = args.telemetry_s, args.reboot_s
        self.defects = frozenset(args.defect)
        version = tuple(int(part) for part in args.firmware.split("."))
        self.store = LabelStore(Path(args.state_dir), (version[0], version[1], version[2]))
        self.store.persist_session = "session-not-persisted" not in self.defects
        self.images = ImageReceiver(
            self.store,
            pages=self.pages,
            frame_bytes=frame_bytes(self.model),
            buffer_bytes=compress_bound(frame_bytes(self.model)),  # §4.7: the least allowed
            send=self.send,
            shown_page=lambda: self.shown_page,
            defects=self.defects,
        )
        self.firmware = FirmwareUpdater(
            self.store,
            model=self.model,
            slot_bytes=args.firmware_slot_bytes,
            vendor_key=bytes.fromhex(args.vendor_key),
            send=self.send,
            finish=self.firmware_finished,
            defects=self.defects,
        )
        self.client: mqtt.Client | None = None
        self.inbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self.stopping = False
        self.button_presses = 0
        self.reconnect_at = 0.0
        self.backoff_s = BACKOFF_FIRST_S
        self.connected = self.subscribed = self.born = self.lost = False
        self.connect_started = self.born_at = 0.0
        self.event_id = 0
        self.shown_page = 0
        self.boot()

    # ------------------------------------------------------------------ boot and connection

    def boot(self) -> None:
        """Power-on: RAM is empty, flash is read; a BOOT report follows the next Birth (§4.6).
        A page switch lives in RAM: the label boots showing page 0 (§7.3), whatever it showed."""
        self.store.load()
        self.images.reset()
        self.firmware.reset()
        self.inbox.clear()
        if self.shown_page != 0:
            log.info("panel refreshed: page 0 on screen again after the reboot")
        self.shown_page = 0
        self.revert_at: float | None = None
        self.needs_boot_report = True
        self.telemetry_seq = 0
        now = time.monotonic()
        self.next_telemetry = now + self.telemetry_s
        self.next_wake = now + self.checkin_s
        self.fast_wake: tuple[float, float] | None = None  # (interval_s, until)

    def topic(self, channel: str) -> str:
        return f"os1/{self.store_id}/up/{self.device_id}/{self.device_id}/{channel}"

    def connect(self) -> None:
        """§1.2 steps 1-3: new session persisted, CONNECT with its Will, then (on CONNACK)
        SUBSCRIBE; the Birth waits for the SUBACK (D8)."""
        self.store.session += 1
        self.store.save()  # §4.6: before the CONNECT that carries it in its Will
        self.event_id = 0  # §8.2: 1 for the first event of a session
        self.connected = self.subscribed = self.born = self.lost = False
        self.connect_started = time.monotonic()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.device_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        client.username_pw_set(self.device_id, self.password)
        client.will_set(self.topic("death"), death(self.store.session), qos=1, retain=True)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file)
        client.enable_logger(logging.getLogger("reference_label.mqtt"))
        client.on_connect = self.on_connect
        client.on_subscribe = self.on_subscribe
        client.on_message = self.on_message
        client.on_disconnect = self.on_disconnect
        log.info("connecting to %s:%d as %s, session %d", self.host, self.port, self.device_id,
                 self.store.session)  # fmt: skip
        try:
            client.connect(self.host, self.port, keepalive=KEEPALIVE_S)
        except OSError as exc:
            log.warning("connect failed: %s", exc)
            self.retry_later()
            return
        self.client = client

    def retry_later(self) -> None:
        """Capped, jittered exponential backoff (§1.2)."""
        delay = self.backoff_s * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        self.backoff_s = min(self.backoff_s * 2, BACKOFF_CAP_S)
        self.reconnect_at = time.monotonic() + delay
        log.info("reconnecting in %.1f s", delay)
        if self.client is not None:
            self.client.disconnect()
            self.client = None

    def on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            self.lost = True
            return
        self.connected = True
        client.subscribe(f"os1/{self.store_id}/down/{self.device_id}/#", qos=1)

    def on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, codes: list[Any], _p: Any) -> None:
        if any(code.is_failure for code in codes):
            log.error("subscription refused: %s", codes)
            self.lost = True
            return
        self.subscribed = True

    def on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.append((message.topic, bytes(message.payload)))

    def on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not self.stopping:
            log.warning("connection lost: %s", rc)
        self.lost = True

    def publish_birth(self, *, rebirth: bool = False) -> None:
        """§1.2 steps 4-5: Birth retained; after a boot, Reported BOOT retained."""
        store = self.store
        session = store.session
        if rebirth and "rebirth-new-session" in self.defects:
            session += 1  # the defect: the Birth says a session the connection does not have
        self.send(
            birth(session, self.model, store.firmware, self.max_packet, 2950,
                  self.checkin_s, self.pages, store.revision, store.content_hash, self.shown_page)
        )  # fmt: skip
        if self.needs_boot_report:
            self.needs_boot_report = False
            self.send(reported(store.revision, store.content_hash, self.shown_page, BOOT))

    def send(self, frame: bytes) -> mqtt.MQTTMessageInfo | None:
        """Publish one up frame on the channel, QoS and retain flag of its opcode (§2.4)."""
        opcode = frame[3]
        qos, retain = UP_DELIVERY[opcode]
        if opcode == 0x01 and "birth-not-retained" in self.defects:
            retain = False
        if self.client is None or not self.connected:
            log.warning("not connected: opcode 0x%02x not sent", opcode)
            return None
        return self.client.publish(self.topic(UP_CHANNELS[opcode]), frame, qos=qos, retain=retain)

    def send_and_wait(self, frame: bytes) -> None:
        """Publish and wait for the PUBACK (before a deliberate disconnect, §1.2, §7.6)."""
        info = self.send(frame)
        deadline = time.monotonic() + PUBACK_TIMEOUT_S
        while info is not None and self.client is not None and not info.is_published():
            if time.monotonic() > deadline or self.lost:
                return
            self.client.loop(timeout=0.05)

    def disconnect(self) -> None:
        """Death(session) retained, its PUBACK, then DISCONNECT (the Will is discarded)."""
        if self.client is not None and self.connected:
            self.send_and_wait(death(self.store.session))
            self.client.disconnect()
            deadline = time.monotonic() + 2.0
            while not self.lost and time.monotonic() < deadline:
                self.client.loop(timeout=0.05)
        self.client = None

    def reboot(self) -> None:
        """§7.6: Death, disconnect, reboot (RAM lost, flash kept), back with a new session."""
        self.disconnect()
        log.info("rebooting (%.1f s)", self.reboot_s)
        time.sleep(self.reboot_s)
        self.boot()
        self.backoff_s = BACKOFF_FIRST_S
        self.reconnect_at = 0.0

    # ------------------------------------------------------------------------- main loop

    def run(self) -> int:
        while not self.stopping:
            now = time.monotonic()
            if self.client is None:
                if now >= self.reconnect_at:
                    self.connect()
                else:
                    time.sleep(min(0.05, self.reconnect_at - now))
                continue
            self.client.loop(timeout=0.05)
            if self.lost or (not self.connected and now - self.connect_started > CONNACK_TIMEOUT_S):
                if self.born and now - self.born_at >= STABLE_S:
                    self.backoff_s = BACKOFF_FIRST_S  # §1.2: a connection that lasted starts over
                self.retry_later()
                continue
            if self.subscribed and not self.born:
                self.born, self.born_at = True, now
                self.publish_birth()
            if self.born:
                self.on_clock(time.monotonic())
        self.disconnect()
        log.info("stopped")
        return 0

    def on_clock(self, now: float) -> None:
        """Handle what arrived (at once, or at wakes for a sleepy label), then the timers."""
        if self.checkin_s == 0:
            self.handle_inbox(now)
            self.images.tick(now)
            self.firmware.tick(now)
        elif now >= self.next_wake:
            interval = float(self.checkin_s)
            if self.fast_wake is not None and now < self.fast_wake[1]:
                interval = self.fast_wake[0]
            self.next_wake = now + interval
            self.handle_inbox(now)
            self.images.wake(now)
            self.firmware.wake(now)
        if self.revert_at is not None and now >= self.revert_at:
            self.revert_at = None
            self.show_page(0)
        if now >= self.next_telemetry:
            self.next_telemetry = now + self.telemetry_s
            self.telemetry_seq += 1
            self.send(telemetry(self.telemetry_seq, 2950, -60, 215))
        if self.button_presses:
            self.button_presses -= 1
            self.event_id += 1
            self.send(event(self.event_id, BUTTON_PRESS, "find"))

    def handle_inbox(self, now: float) -> None:
        while self.inbox and self.client is not None and not self.stopping:
            topic, payload = self.inbox.popleft()
            self.handle(topic, payload, now)

    def handle(self, topic: str, payload: bytes, now: float) -> None:
        """One down message: the topic's checks (§2.4), the frame's (§3.5), then its rules."""
        if not payload:
            return  # §2.5: a deleted retained document, ignored silently
        parts = topic.split("/")
        if len(parts) != 6 or parts[:4] != ["os1", self.store_id, "down", self.device_id]:
            log.warning("dropped: unexpected topic %s", topic)
            return
        if parts[4] != self.device_id:
            log.warning("dropped: %s is not a device this gateway carries", parts[4])
            return
        if parts[5] not in ("desired", "chunk", "cmd", "response"):
            return  # §10: a channel this label does not know
        try:
            message = decode_down(payload, parts[5], check_crc="no-frame-crc" not in self.defects)
        except FrameError as exc:
            log.warning("dropped frame on %s: %s", parts[5], exc)
            return
        if isinstance(message, Desired):
            self.images.on_desired(message, now)
        elif isinstance(message, Chunk):
            if not self.images.on_chunk(message, now) and not self.firmware.on_chunk(message, now):
                log.info("chunk of unknown xfer %#x ignored", message.xfer_id)
        elif isinstance(message, Response):
            log.info("response %d ignored: this label sends no requests", message.txn)
        else:
            self.command(message, now)

    # -------------------------------------------------------------------------- commands

    def answer(self, txn: int, status: int, detail: str = "") -> None:
        self.store.remember(txn, status, detail)
        self.send(command_result(txn, status, detail))

    def command(self, cmd: Command | FirmwareOffer, now: float) -> None:
        """§7: one CommandResult per command; a repeated txn gets the stored answer (§7.1)."""
        known = self.store.remembered(cmd.txn)
        if known is not None and "no-txn-memory" not in self.defects:
            self.send(command_result(cmd.txn, *known))
            return
        if isinstance(cmd, FirmwareOffer):
            self.answer(cmd.txn, *self.firmware.on_offer(cmd, now))
        elif cmd.opcode == 0x30:  # LedFlash
            colour, pattern, duration_s = cmd.args
            log.info("LED colour %d pattern %d for %d s", colour, pattern, duration_s)
            self.answer(cmd.txn, OK)
        elif cmd.opcode == 0x31:  # PageSwitch (§7.3)
            self.page_switch(cmd.txn, cmd.args[0], cmd.args[1], now)
        elif cmd.opcode == 0x32:  # FastWake (§7.4)
            if "ignores-fast-wake" in self.defects:
                return
            duration_s, interval_ms = cmd.args
            self.fast_wake = (max(interval_ms / 1000, 0.05), now + duration_s)
            self.answer(cmd.txn, OK)
        elif cmd.opcode == 0x33:  # Ping
            self.answer(cmd.txn, OK)
        elif cmd.opcode == 0x34:  # Reboot (§7.6)
            if self.firmware.download is not None:
                self.answer(cmd.txn, REFUSED, "writing firmware")
                return
            self.store.remember(cmd.txn, OK, "")
            self.send_and_wait(command_result(cmd.txn, OK))
            self.reboot()
        elif cmd.opcode == 0x35:  # Rebirth (§7.6): same session, then the result
            self.publish_birth(rebirth=True)
            self.answer(cmd.txn, OK)

    def page_switch(self, txn: int, page: int, duration_s: int, now: float) -> None:
        if page >= self.pages or self.store.slot(page) is None:
            self.answer(txn, REFUSED, f"page {page} out of range or empty")
            return
        self.answer(txn, OK)
        self.show_page(page)
        self.revert_at = now + duration_s if duration_s and page != 0 else None

    def show_page(self, page: int) -> None:
        self.shown_page = page
        log.info("showing page %d", page)
        if "page-switch-no-report" not in self.defects:
            store = self.store
            self.send(reported(store.revision, store.content_hash, page, APPLIED))

    def firmware_finished(self, txn: int, status: int, detail: str) -> None:
        """§7.7 step 6: the final answer; on OK, reboot into the new image."""
        if status != OK:
            self.answer(txn, status, detail)
            return
        self.store.remember(txn, OK, "")
        self.send_and_wait(command_result(txn, OK))
        self.reboot()


def read_password(args: argparse.Namespace) -> str:
    """D1: the device's own password (file or environment), or derived from the store secret."""
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip()
    if args.store_secret_file:
        secret = Path(args.store_secret_file).read_text(encoding="utf-8").strip()
        return device_password(secret, args.device)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    raise SystemExit(f"no password: --password-file, --store-secret-file or ${PASSWORD_ENV}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
    parser.add_argument("--ca-file", help="CA certificate of an mqtts:// broker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--device", required=True, help="this label's id (client id, username)")
    parser.add_argument("--state-dir", required=True, help="the label's flash: session, pages")
    parser.add_argument("--password-file")
    parser.add_argument("--store-secret-file", help="lab only: derive the password (§1.2)")
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--model", default="EPD290_BWR", choices=[m for m in MODELS if "EPD" in m])
    parser.add_argument("--firmware", default="1.0.0", help="running version on first boot")
    parser.add_argument("--max-packet", type=int, default=1024)
    parser.add_argument("--checkin", type=int, default=0, help="seconds between wakes; 0 = always")
    parser.add_argument("--telemetry-s", type=float, default=60.0)
    parser.add_argument("--reboot-s", type=float, default=2.0, help="how long a reboot takes")
    parser.add_argument("--vendor-key", default=RFC8032_TEST_KEY, help="pinned Ed25519 key, hex")
    parser.add_argument("--firmware-slot-bytes", type=int, default=1 << 20)
    parser.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS))
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    for name, value in (("store", args.store), ("device", args.device)):
        if not ID.fullmatch(value):
            parser.error(f"--{name} {value!r} is not an id of §2.2")
    if args.device.startswith(RESERVED_PREFIXES):
        parser.error(f"--device {args.device!r} is reserved for a service account")
    if not 1 <= args.pages <= 255:
        parser.error("--pages must be 1..255")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    label = Label(args, read_password(args))

    def stop(_signum: int, _frame: object) -> None:
        label.stopping = True

    def press(_signum: int, _frame: object) -> None:
        label.button_presses += 1

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, press)
    return label.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
