"""A gateway: the MQTT identity that carries one or more simulated devices.

An access point proxies many labels over one connection; a directly connected device is a
gateway of one. Either way the gateway decides *when* devices see messages: a sleeping label
only hears what the gateway holds for it at its next check-in (OpenEPaperLink's access point
works the same way), a fast-woken or always-listening one hears at once. It also plays the
radio: seeded loss and duplication, access-point airtime, offline windows (during which the
gateway reports the device's Death and drops its traffic).

Sans-IO: `receive` and `due` take the current time and return `Outgoing` items; mqtt.py moves
the bytes. Frames that fail to decode (bad CRC, malformed) are counted and dropped, which makes
the chunk "missing" so that the label asks for it again.

A frame whose opcode does not belong to the topic's channel (a Ping on `desired`) is dropped
like a bad frame (§2.4), when the network layer says on which channel it arrived.

Session counters (the access point's own and each device's) never go down: with a
`SessionCounters` file they survive a simulator restart (sessions.py). A directly connected
device that reboots (a Reboot command, a firmware switch) publishes its Death and the Birth of
its new session, which makes the network layer reconnect; the new connection carries that same
session (one increment per reboot, §4.6), and what the device says after its Birth (its
Reported(BOOT)) waits for that connection, after its SUBSCRIBE. A Rebirth addressed to an
access point itself re-announces it and every device it carries, with their current sessions
(what the controller asks of an access point it has just adopted).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field

from device_sim.behaviour import Behaviour
from device_sim.device import SimDevice
from device_sim.label import SimLabel
from device_sim.sessions import SessionCounters
from firmware_protocol.codec import decode
from firmware_protocol.errors import ProtocolError
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Chunk,
    CommandResult,
    CommandStatus,
    Death,
    Desired,
    Message,
    Ping,
    Rebirth,
    Reported,
    ReportResult,
)
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DELIVERY, Channel, DeviceAddress, Direction
from firmware_protocol.wire import FirmwareVersion

log = logging.getLogger(__name__)

MIN_WAKE_S = 0.05


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message a device publishes (through its gateway)."""

    device_id: str
    message: Message


@dataclass(frozen=True, slots=True)
class WillMessage:
    """The Death the broker publishes for a gateway's connection if it is lost."""

    device_id: str
    message: Death


@dataclass
class GatewayStats:
    received: int = 0
    rejected_frames: int = 0
    lost: int = 0
    duplicated: int = 0
    published: int = 0


@dataclass
class Gateway:
    gateway_id: str
    store: str
    behaviour: Behaviour
    devices: dict[str, SimDevice] = field(default_factory=dict)
    is_access_point: bool = False
    stats: GatewayStats = field(default_factory=GatewayStats)
    counters: SessionCounters | None = None  # persists `ap_session`; None: memory only

    def __post_init__(self) -> None:
        seed = f"{self.behaviour.seed}:{self.gateway_id}"
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._inbox: dict[str, list[Message]] = defaultdict(list)
        self._wakes: list[tuple[float, int, str]] = []
        self._timed: list[tuple[float, int, Outgoing]] = []
        self._order = itertools.count()
        self._last_wake: dict[str, float] = {}
        self._offline_until: dict[str, float] = {}
        self._latest_desired: dict[str, Desired] = {}
        self._radio_free_at = 0.0
        self.ap_session = 0
        self.started = False
        self._link_session = 0  # a direct device: the session its current connection carries
        self._rebooted = False  # a direct device born again, its new connection not yet made
        self._after_reconnect: list[Outgoing] = []

    def address(self, device_id: str) -> DeviceAddress:
        return DeviceAddress(self.store, self.gateway_id, device_id)

    def add(self, device: SimDevice) -> None:
        self.devices[device.device_id] = device

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, now: float) -> list[Outgoing]:
        """Boot every device: births (and what labels show), first wakes scheduled."""
        out: list[Outgoing] = []
        if self.is_access_point:
            self._next_ap_session()
            out.append(Outgoing(self.gateway_id, self.ap_birth()))
        for device in self.devices.values():
            out += [Outgoing(device.device_id, m) for m in device.boot(now)]
            self._last_wake[device.device_id] = now
            self._schedule_wake(device, now, first=True)
        self.started = True
        self._note_link_session()
        return out

    def _note_link_session(self) -> None:
        if not self.is_access_point:
            for device in self.devices.values():
                self._link_session = device.session

    def reconnected(self) -> list[Outgoing]:
        """A new MQTT connection: every device behind it announces a new session."""
        out: list[Outgoing] = []
        if self.is_access_point:
            self._next_ap_session()
            out.append(Outgoing(self.gateway_id, self.ap_birth()))
        for device in self.devices.values():
            if device.device_id in self._offline_until:
                continue
            if not self._rebooted:
                device.new_session()
            out.append(Outgoing(device.device_id, device.birth()))
        self._rebooted = False
        self._note_link_session()
        out += self._after_reconnect
        self._after_reconnect = []
        return out

    def connect(self, now: float) -> list[Outgoing]:
        return self.reconnected() if self.started else self.start(now)

    def _next_ap_session(self) -> None:
        self.ap_session += 1
        if self.counters is not None:
            self.counters.ensure(self.gateway_id, self.ap_session)

    def will(self) -> WillMessage:
        """The Death the broker publishes if this connection is lost (the MQTT Will).

        Called before the CONNECT is sent, with the session `connect` will then announce; that
        session is persisted first (§4.6: a Will must never name a session a restarted
        simulator could use again).
        """
        if self.is_access_point:
            will = WillMessage(self.gateway_id, Death(self.ap_session + 1))
        else:
            (device,) = self.devices.values()
            session = device.session if self._rebooted else device.session + 1
            self._link_session = session
            will = WillMessage(device.device_id, Death(session))
        if self.counters is not None:
            self.counters.ensure(will.device_id, will.message.session)
        return will

    def goodbye(self) -> list[Outgoing]:
        """Deaths for every device (and the access point) of a gateway shutting down cleanly."""
        out = [
            Outgoing(device.device_id, device.death())
            for device in self.devices.values()
            if device.device_id not in self._offline_until
        ]
        if self.is_access_point:
            out.append(Outgoing(self.gateway_id, Death(self.ap_session)))
        return out

    def ap_birth(self) -> Birth:
        return Birth(
            session=self.ap_session,
            model=ModelId.ACCESS_POINT,
            firmware=FirmwareVersion(1, 0, 0),
            max_packet=65536,
            battery_mv=0,
            checkin_s=0,
            pages=0,
            displayed_revision=0,
            displayed_hash=NO_HASH,
            shown_page=0,
        )

    def _listening(self, device: SimDevice, now: float) -> bool:
        return self.behaviour.checkin_s <= 0 or now < device.fast_wake_until

    def _schedule_wake(self, device: SimDevice, now: float, *, first: bool = False) -> None:
        if self.behaviour.checkin_s <= 0 and now >= device.fast_wake_until:
            period = self.behaviour.resume_after_s
            if isinstance(device, SimLabel):  # its resume timer may be due sooner (§5.6)
                period = min(period, max(MIN_WAKE_S, device.resume_due() - now))
        else:
            period = device.wake_period(now)
        if first and self.behaviour.checkin_s > 0:
            period = self.rng.uniform(0, self.behaviour.checkin_s)  # a store wakes spread out
        heapq.heappush(self._wakes, (now + period, next(self._order), device.device_id))

    # ---- traffic ------------------------------------------------------------------------------

    def receive(
        self, device_id: str, payload: bytes, now: float, channel: Channel | None = None
    ) -> list[Outgoing]:
        """A frame from the broker for one device; `channel` is the topic's (§2.4)."""
        device = self.devices.get(device_id)
        if device is None:
            if self.is_access_point and device_id == self.gateway_id:
                return self._receive_own(payload, channel)
            return []
        msg = self._decode(device_id, payload, channel)
        if msg is None:
            return []
        self.stats.received += 1
        if isinstance(msg, Desired):
            current = self._latest_desired.get(device_id)
            if current is None or msg.revision >= current.revision:
                self._latest_desired[device_id] = msg
        if device_id in self._offline_until:
            return []
        if self.rng.random() < self.behaviour.loss:
            self.stats.lost += 1
            return []
        copies = 1
        if self.rng.random() < self.behaviour.duplication:
            self.stats.duplicated += 1
            copies = 2
        device.spend_radio(len(payload))
        if self._listening(device, now):
            out: list[Outgoing] = []
            for _ in range(copies):
                out += self._deliver(device, msg, now)
            return out
        self._inbox[device_id].extend([msg] * copies)
        return []

    def _decode(self, device_id: str, payload: bytes, channel: Channel | None) -> Message | None:
        """The message, or None for a frame to drop: it does not decode (§3.5), or its opcode
        does not travel down on the topic's channel (§2.4)."""
        try:
            msg = decode(payload)
        except ProtocolError as exc:
            self.stats.rejected_frames += 1
            log.debug("%s dropped a bad frame: %s", device_id, exc)
            return None
        delivery = DELIVERY[msg.OPCODE]
        if channel is not None and (
            delivery.direction is not Direction.DOWN or delivery.channel is not channel
        ):
            self.stats.rejected_frames += 1
            log.debug("%s dropped a %s on the %s channel", device_id, msg.OPCODE.name, channel)
            return None
        return msg

    def _receive_own(self, payload: bytes, channel: Channel | None) -> list[Outgoing]:
        """A command for the access point itself."""
        msg = self._decode(self.gateway_id, payload, channel)
        if msg is None:
            return []
        self.stats.received += 1
        me = self.gateway_id
        match msg:
            case Rebirth(txn=txn):
                out = [Outgoing(me, self.ap_birth())]
                out += [
                    Outgoing(device.device_id, device.birth())
                    for device in self.devices.values()
                    if device.device_id not in self._offline_until
                ]
                return [*out, Outgoing(me, CommandResult(txn, CommandStatus.OK))]
            case Ping(txn=txn):
                return [Outgoing(me, CommandResult(txn, CommandStatus.OK))]
        asked = getattr(msg, "txn", None)
        if asked is None:
            return []
        return [Outgoing(me, CommandResult(asked, CommandStatus.UNSUPPORTED, type(msg).__name__))]

    # ---- roaming ------------------------------------------------------------------------------

    def join(self, device: SimDevice, now: float) -> list[Outgoing]:
        """A device came into this access point's range (it moved here): it is announced with a
        new session, and wakes on this access point's schedule from now on."""
        self.add(device)
        self._offline_until.pop(device.device_id, None)
        self._last_wake[device.device_id] = now
        self._schedule_wake(device, now)
        return [Outgoing(device.device_id, m) for m in device.boot(now)]

    def leave(self, device_id: str) -> SimDevice:
        """A device went out of range for good (to another access point): forgotten here."""
        device = self.devices.pop(device_id)
        self._inbox.pop(device_id, None)
        self._latest_desired.pop(device_id, None)
        self._offline_until.pop(device_id, None)
        self._wakes = [w for w in self._wakes if w[2] != device_id]
        heapq.heapify(self._wakes)
        return device

    def _reborn(self, out: list[Outgoing]) -> list[Outgoing]:
        """A direct device's messages after a reboot: up to the Birth of its new session (which
        makes the network layer reconnect) now, the rest on the new connection."""
        if self.is_access_point:
            return out
        for i, item in enumerate(out):
            msg = item.message
            if isinstance(msg, Birth) and msg.session > self._link_session:
                self._rebooted = True
                self._after_reconnect += out[i + 1 :]
                return out[: i + 1]
        return out

    def _deliver(self, device: SimDevice, msg: Message, now: float) -> list[Outgoing]:
        delay = self._airtime(msg, now)
        replies = device.process(msg, now + delay)
        out: list[Outgoing] = []
        for reply in replies:
            item = Outgoing(device.device_id, reply)
            refresh = isinstance(reply, Reported) and reply.result is ReportResult.APPLIED
            wait = delay + (device.refresh_s if refresh and isinstance(device, SimLabel) else 0.0)
            if wait > 0:
                heapq.heappush(self._timed, (now + wait, next(self._order), item))
            else:
                out.append(item)
        return self._reborn(out)

    def _airtime(self, msg: Message, now: float) -> float:
        """Seconds until the access point's one radio has carried this message to the label.

        The radio is shared: a chunk waits for the chunks queued before it.
        """
        rate = self.behaviour.ap_throughput_bps
        if not self.is_access_point or rate <= 0 or not isinstance(msg, Chunk):
            return 0.0
        self._radio_free_at = max(now, self._radio_free_at) + len(msg.data) / rate
        return self._radio_free_at - now

    def due(self, now: float) -> list[Outgoing]:
        """Everything whose time has come: wakes, finished refreshes, ends of offline windows."""
        out: list[Outgoing] = []
        while self._timed and self._timed[0][0] <= now:
            out.append(heapq.heappop(self._timed)[2])
        while self._wakes and self._wakes[0][0] <= now:
            _, _, device_id = heapq.heappop(self._wakes)
            out += self._wake(self.devices[device_id], now)
        return out

    def next_deadline(self) -> float | None:
        times = [q[0][0] for q in (self._timed, self._wakes) if q]
        return min(times) if times else None

    def _wake(self, device: SimDevice, now: float) -> list[Outgoing]:
        device_id = device.device_id
        out: list[Outgoing] = []
        back_at = self._offline_until.get(device_id)
        if back_at is not None and now >= back_at:
            out += self._come_back(device, now)
        if device_id not in self._offline_until:
            for msg in self._inbox.pop(device_id, []):
                out += self._deliver(device, msg, now)
            since = self._last_wake.get(device_id, now)
            woken = device.wake(now, since) if isinstance(device, SimLabel) else device.tick(now)
            out += [Outgoing(device_id, m) for m in woken]
            self._maybe_go_offline(device, now, out)
        self._last_wake[device_id] = now
        self._schedule_wake(device, now)
        return out

    # ---- offline windows ----------------------------------------------------------------------

    def _maybe_go_offline(self, device: SimDevice, now: float, out: list[Outgoing]) -> None:
        rate = self.behaviour.offline_rate_per_h
        if rate <= 0:
            return
        period = max(self.behaviour.checkin_s, self.behaviour.resume_after_s)
        if self.rng.random() < rate * period / 3600.0:
            duration = self.rng.expovariate(1.0 / self.behaviour.offline_mean_s)
            out += self.go_offline(device.device_id, now, duration)

    def go_offline(self, device_id: str, now: float, duration: float) -> list[Outgoing]:
        """The device stops hearing and answering; its Death is published (as the AP would)."""
        device = self.devices[device_id]
        self._offline_until[device_id] = now + duration
        self._inbox.pop(device_id, None)
        return [Outgoing(device_id, device.death())]

    def come_back(self, device_id: str, now: float) -> list[Outgoing]:
        return self._come_back(self.devices[device_id], now)

    def _come_back(self, device: SimDevice, now: float) -> list[Outgoing]:
        """Back in range: a new session, and the newest desired state the gateway holds."""
        self._offline_until.pop(device.device_id, None)
        out = [Outgoing(device.device_id, m) for m in device.boot(now)]
        latest = self._latest_desired.get(device.device_id)
        if latest is not None:
            out += self._deliver(device, latest, now)
        return self._reborn(out)

    def is_offline(self, device_id: str) -> bool:
        return device_id in self._offline_until
