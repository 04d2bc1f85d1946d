"""What every simulated device shares: identity, session counter, battery, commands.

Devices are sans-IO state machines: `boot()`, `handle(msg, now)` and `tick(now)` return the
messages to publish; a gateway (gateway.py) decides when they run and carries the bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from device_sim.behaviour import Behaviour
from device_sim.sessions import SessionCounters
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    CommandResult,
    CommandStatus,
    Death,
    FastWake,
    LedColour,
    LedFlash,
    LedPattern,
    Message,
    PageSwitch,
    Ping,
    Rebirth,
    Reboot,
)
from firmware_protocol.models import DeviceModel
from firmware_protocol.wire import FirmwareVersion

FULL_MV = 3000
EMPTY_MV = 2200


@dataclass
class LedState:
    colour: LedColour
    pattern: LedPattern
    until: float


@dataclass
class SimDevice:
    """Base of labels, shelf sensors and fitting rooms."""

    device_id: str
    model: DeviceModel
    behaviour: Behaviour
    rng: random.Random
    firmware: FirmwareVersion = field(default_factory=lambda: FirmwareVersion(1, 0, 0))
    max_packet: int = 4096
    session: int = 0
    charge_used_mas: float = 0.0
    led: LedState | None = None
    fast_wake_until: float = 0.0
    fast_wake_interval_s: float = 1.0
    telemetry_seq: int = 0
    event_id: int = 0
    commands_seen: set[int] = field(default_factory=set)
    mains_powered: bool = False
    counters: SessionCounters | None = None  # persists `session` (sessions.py); None: memory

    # ---- identity and availability ------------------------------------------------------------

    def birth(self) -> Birth:
        return Birth(
            session=self.session,
            model=self.model.id,
            firmware=self.firmware,
            max_packet=self.max_packet,
            battery_mv=self.battery_mv,
            checkin_s=round(self.behaviour.checkin_s),
            pages=1,
            displayed_revision=0,
            displayed_hash=NO_HASH,
            shown_page=0,
        )

    def death(self) -> Death:
        return Death(self.session)

    def boot(self, now: float) -> list[Message]:  # noqa: ARG002 - subclasses use the time
        """A (re)start: a new session, a birth. Subclasses add what they show."""
        self.new_session()
        return [self.birth()]

    def new_session(self) -> None:
        """Event ids and telemetry sequence numbers restart with each session (§8.1, §8.2);
        the session counter never goes down, and is persisted before it is announced (§4.6)."""
        self.session += 1
        if self.counters is not None:
            self.counters.ensure(self.device_id, self.session)
        self.event_id = 0
        self.telemetry_seq = 0
        self.commands_seen.clear()

    # ---- battery ------------------------------------------------------------------------------

    @property
    def battery_mv(self) -> int:
        """Battery voltage; 0 means mains powered (§4.4)."""
        if self.mains_powered:
            return 0
        capacity = self.behaviour.battery_mah * 3600.0
        left = max(0.0, 1.0 - self.charge_used_mas / capacity)
        return int(EMPTY_MV + (FULL_MV - EMPTY_MV) * left)

    def spend_radio(self, nbytes: int) -> None:
        self.charge_used_mas += self.behaviour.radio_mas_per_kb * nbytes / 1024.0

    # ---- messages -----------------------------------------------------------------------------

    def handle(self, msg: Message, now: float) -> list[Message]:
        match msg:
            case LedFlash(txn=txn, colour=colour, pattern=pattern, duration_s=duration):
                self.led = LedState(colour, pattern, now + duration)
                return self._result(txn, CommandStatus.OK)
            case FastWake(txn=txn, duration_s=duration, interval_ms=interval):
                self.fast_wake_until = now + duration
                self.fast_wake_interval_s = max(0.05, interval / 1000.0)
                return self._result(txn, CommandStatus.OK)
            case Ping(txn=txn):
                return self._result(txn, CommandStatus.OK, f"battery {self.battery_mv} mV")
            case Rebirth(txn=txn):
                # The current session: the Will is unchanged, a new number would make it stale.
                return [self.birth(), *self._result(txn, CommandStatus.OK)]
            case Reboot(txn=txn):
                # Reply first: after the reboot the device has forgotten the transaction.
                return [*self._result(txn, CommandStatus.OK), *self.boot(now)]
            case PageSwitch(txn=txn):
                return self._result(txn, CommandStatus.UNSUPPORTED, "no pages on this device")
        return self._unsupported(msg)

    def _unsupported(self, msg: Message) -> list[Message]:
        txn = getattr(msg, "txn", None)
        if txn is None:
            return []
        return self._result(txn, CommandStatus.UNSUPPORTED, type(msg).__name__)

    def _result(self, txn: int, status: CommandStatus, detail: str = "") -> list[Message]:
        return [CommandResult(txn, status, detail)]

    def tick(self, now: float) -> list[Message]:
        """Periodic work (telemetry, simulated shoppers); called at every wake."""
        if self.led is not None and now >= self.led.until:
            self.led = None
        return []

    def next_event_id(self) -> int:
        self.event_id += 1
        return self.event_id

    def next_telemetry_seq(self) -> int:
        self.telemetry_seq += 1
        return self.telemetry_seq

    def wake_period(self, now: float) -> float:
        if now < self.fast_wake_until:
            return self.fast_wake_interval_s
        return self.behaviour.next_checkin(self.rng)
