"""What every simulated device shares: identity, session counter, battery, commands.

Devices are sans-IO state machines: `boot()`, `process(msg, now)` and `tick(now)` return the
messages to publish; a gateway (gateway.py) decides when they run and carries the bytes.

Commands are answered once per txn (§7.1): QoS 1 may deliver a command twice and the controller
retries with the same txn, so the results of the last 8 commands are remembered and a repeated
txn gets the stored result without running the command again.
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
from firmware_protocol.topics import DELIVERY, Channel
from firmware_protocol.wire import FirmwareVersion

FULL_MV = 3000
EMPTY_MV = 2200
TXN_MEMORY = 8  # the last commands whose results a device remembers (§7.1)


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
    recent_results: dict[int, CommandResult] = field(default_factory=dict)  # txn -> result
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

    def process(self, msg: Message, now: float) -> list[Message]:
        """A message as the gateway delivers it: a command whose txn was answered recently gets
        that answer again and is not run twice (§7.1); everything else goes to `handle`. Every
        CommandResult sent is remembered as its txn's latest status, also one a chunk caused
        (a firmware transfer's final OK or FAILED after its IN_PROGRESS)."""
        txn = getattr(msg, "txn", None)
        if txn is not None and DELIVERY[msg.OPCODE].channel is Channel.CMD:
            stored = self.recent_results.get(txn)
            if stored is not None:
                return [stored]
        out = self.handle(msg, now)
        for reply in out:
            if isinstance(reply, CommandResult):
                self.recent_results.pop(reply.txn, None)
                self.recent_results[reply.txn] = reply  # the latest status, newest last
        while len(self.recent_results) > TXN_MEMORY:
            del self.recent_results[next(iter(self.recent_results))]
        return out

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
                # §7.6: the answer, then the Death of this session, then the reboot (a new
                # session, a Birth, and for a label its Reported(BOOT)).
                return [*self._result(txn, CommandStatus.OK), self.death(), *self.boot(now)]
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
