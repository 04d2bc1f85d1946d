"""The device registry fed by what devices publish: births, deaths, telemetry, command results.

- Only a gateway allowed to speak for a device is heard (controller/gateways.py): the device
  itself, or a trusted access point; every other message counts only from the device's current
  gateway. The rest is dropped before it reaches the registry.
- A Birth registers the device (adopted only if it matches the store's allowlist for its kind —
  OMNISHELF_ADOPT for labels and other devices, OMNISHELF_ADOPT_ACCESS_POINTS for access points —
  or staff adopted it: an unknown device is listed, never pushed to), marks it online in that
  session, and catches it up: what it says it displays is recorded, a label with no image yet is
  queued for rendering, and a label that shows anything but its desired image gets its push at
  once. A device that changes kind (a label now born as an access point) is adopted anew, never
  by its old adoption. A label born under another gateway has moved there: its retained
  documents under the old one are deleted (PROTOCOL.md §2.3).
- A Death marks it offline unless it belongs to an older session (a late Will); an access
  point's Death makes its labels unreachable until it is born again (state/fleet_repo.py).
- Telemetry updates battery, signal and last-seen. Its sequence number is not checked: lost
  telemetry (QoS 0) is normal and never asks for a Rebirth (PROTOCOL.md §8.1).
- Events (buttons, fitting-room tags, empty lanes) are numbered per session: a duplicate is
  ignored, a new one is logged and handed to `on_device_event`, and one that follows a gap
  (events lost while the controller was away) is handled too and makes the controller ask for
  a Rebirth (§8.2; controller/device_events.py). Births set each device's session there.
- A message from a device the registry does not know makes the controller ask for a Rebirth.
  Every Rebirth is rate-limited: at most one per device per REBIRTH_INTERVAL_S (60 s).
- Commands (locate, page switch, fast wake) carry a transaction number; their results resolve
  the waiting caller.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import aiosqlite

from controller.device_events import EventTracker, Verdict
from controller.gateways import GatewayTrust
from controller.link import Publisher
from controller.pipeline.push_stage import PushStage
from controller.report_check import Doubted
from controller.state.device_facts import (
    Born,
    DeviceFact,
    Died,
    Measured,
    Registered,
    record_device_facts,
)
from controller.state.devices_repo import device, is_access_point
from controller.state.fleet_repo import BirthFacts, seen
from controller.state.units import run_rederivable_unit
from firmware_protocol.codec import encode
from firmware_protocol.messages import (
    Birth,
    CommandResult,
    Death,
    Event,
    Message,
    Opcode,
    Rebirth,
    Reported,
    ReportResult,
    Telemetry,
)
from firmware_protocol.models import DeviceKind, ModelId
from firmware_protocol.topics import DELIVERY, DeviceAddress

log = logging.getLogger(__name__)

BOOT = ReportResult.BOOT

REBIRTH_INTERVAL_S = 60.0  # at most one Rebirth per device in this time (PROTOCOL.md §8.2)
SUBJECT_LOG_CHARS = 80  # an event's subject is the device's text: logged bounded, with repr


async def _no_action(address: DeviceAddress, event: Event) -> None:
    """Until something acts on events (shelves, fitting rooms), they are only logged."""


class Fleet:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        publisher: Publisher,
        push: PushStage,
        *,
        clock: Callable[[], datetime],
        adopt_patterns: tuple[str, ...],
        on_work: Callable[[], None],
        adopt_access_points: tuple[str, ...] = (),
    ) -> None:
        self.conn = conn
        self.publisher = publisher
        self.push = push
        self.clock = clock
        self.adopt_patterns = adopt_patterns
        self.adopt_access_points = adopt_access_points
        self.trust = GatewayTrust(conn, clock=clock)
        self.on_work = on_work  # wakes the render and push stages
        self.events = EventTracker()
        # Called once for each new (non-duplicate) event, gap or not: where events are acted on.
        self.on_device_event: Callable[[DeviceAddress, Event], Awaitable[None]] = _no_action
        self._rebirth_asked: dict[str, float] = {}
        self._txn = secrets.randbelow(2**31)
        self._waiting: dict[tuple[str, int], asyncio.Future[CommandResult]] = {}

    def adoptable(self, device_id: str, *, access_point: bool = False) -> bool:
        patterns = self.adopt_access_points if access_point else self.adopt_patterns
        return any(fnmatch.fnmatchcase(device_id, p) for p in patterns)

    async def admits(self, address: DeviceAddress, msg: Message) -> bool:
        """Whether the message's gateway may speak for its device (controller/gateways.py)."""
        if isinstance(msg, Birth):
            return await self.trust.may_be_born(address)
        return await self.trust.may_speak(address, DELIVERY[msg.OPCODE].channel.value)

    async def on_birth(
        self, address: DeviceAddress, birth: Birth, *, replayed: bool = False
    ) -> None:
        """One Birth on its own (a batch goes through `record`, controller/device_intake.py)."""
        if await self.trust.may_be_born(address):
            await self.record([(address, self.born(address, birth, replayed=replayed), birth)])

    def born(self, address: DeviceAddress, birth: Birth, *, replayed: bool) -> Born:
        """An admitted Birth as a fact for the unit of work; the event count starts over."""
        self.events.on_birth(address.device, birth.session)
        if not replayed:
            # A new session has no transfer in RAM (a replayed Birth may be stale: after).
            self.push.transfers.forget(address.device)
        access_point = birth.model.kind is DeviceKind.ACCESS_POINT
        facts = BirthFacts(
            gateway_id=address.gateway,
            model=int(birth.model),
            session=birth.session,
            firmware=str(birth.firmware),
            battery_mv=birth.battery_mv,
            max_packet=birth.max_packet,
            pages=birth.pages,
            checkin_s=birth.checkin_s,
        )
        return Born(
            address.device,
            facts,
            replayed,
            self.adoptable(address.device, access_point=access_point),
            birth.displayed_revision,
            birth.displayed_hash,
        )

    async def record(self, items: Sequence[tuple[DeviceAddress, DeviceFact, Message]]) -> None:
        """Record admitted facts in one unit of work (state/device_facts.py), then do what
        needs the network: Rebirth requests, a moved label's old documents, corrections."""
        if not items:
            return
        # Births, Deaths and Reported documents are retained on the broker: re-read at the next
        # start, so their commit need not wait for the disk (state/units.py).
        outcome = await run_rederivable_unit(
            self.conn, record_device_facts, [fact for _, fact, _ in items], self.clock()
        )
        for registered in outcome.registered:
            address, _, msg = items[registered.index]
            if isinstance(msg, Birth):
                await self._after_birth(address, msg, registered)
        for index in outcome.unknown:
            await self.ask_rebirth(items[index][0], "unknown device")

    async def _after_birth(self, address: DeviceAddress, birth: Birth, done: Registered) -> None:
        self.trust.registered(address.device, done.gateway_id, done.model)
        access_point = birth.model.kind is DeviceKind.ACCESS_POINT
        if done.changed_kind:
            log.warning(
                "%s changed kind (model %s -> %s): its adoption is decided again",
                address.device,
                done.previous_model,
                birth.model.name,
            )
        moved = done.previous_gateway not in (None, done.gateway_id)
        if moved and done.previous_gateway is not None and not done.replayed:
            log.info(
                "%s moved from gateway %s to %s",
                address.device,
                done.previous_gateway,
                address.gateway,
            )
            await self._forget_path(
                DeviceAddress(address.store, done.previous_gateway, address.device)
            )
        if access_point and not done.adopted and self.adoptable(address.device):
            log.warning(
                "%s is an access point: OMNISHELF_ADOPT does not adopt access points;"
                " adopt it (POST /api/v1/devices/%s/adopt) or list it in"
                " OMNISHELF_ADOPT_ACCESS_POINTS",
                address.device,
                address.device,
            )
        if access_point and done.adopted and self.trust.refused_since_asked(address.device):
            # Messages it carried before it was trusted (a replay at start-up in another
            # order, a store that adopted it late) were dropped: ask for them again.
            await self.ask_rebirth(address, "access point trusted")
        if not done.adopted or birth.model.kind is not DeviceKind.LABEL:
            return
        if done.replayed:
            self.push.transfers.forget(address.device)
        if done.doubted is not None:
            # What a Birth says it shows is a report too (controller/report_check.py).
            shown = Reported(birth.displayed_revision, birth.displayed_hash, birth.shown_page, BOOT)
            await self.push.report_check.answer([Doubted(address, shown, done.doubted)])
            self.on_work()  # a correction is queued
        elif done.caught_up:
            self.on_work()

    async def _forget_path(self, old: DeviceAddress) -> None:
        """Delete a moved device's retained documents under the gateway it left (§2.3, §2.5), so
        that a restarted controller is not handed its old Birth again."""
        for opcode in (Opcode.BIRTH, Opcode.DEATH, Opcode.REPORTED, Opcode.DESIRED):
            await self.publisher.publish(old.topic(opcode), b"", qos=1, retain=True)

    async def adopted(self, device_id: str) -> None:
        """Staff adopted a device: an access point is trusted from now on (within the trust
        cache's few seconds) and asked to introduce itself and its labels again."""
        self.trust.forget(device_id)
        found = await device(self.conn, device_id)
        if found is not None and is_access_point(found.model):
            await self.ask_rebirth(DeviceAddress(self.push.store, device_id, device_id), "adopted")

    async def on_death(self, address: DeviceAddress, death: Death) -> None:
        await self.record([(address, Died(address.device, death.session), death)])

    async def on_telemetry(self, address: DeviceAddress, telemetry: Telemetry) -> None:
        """Battery, signal, last seen. A gap in `seq` is lost telemetry, not lost state: no
        Rebirth for it (§8.1); only a device the registry does not know is asked for one."""
        await self.record([(address, measured(address, telemetry), telemetry)])

    async def on_event(self, address: DeviceAddress, event: Event) -> None:
        """A device event (§8.2): duplicates are dropped; a new one is logged and acted on; one
        after a gap is acted on too, and the device is asked for a Rebirth (rate-limited)."""
        await self.on_other(address)
        await self.act_on_event(address, event, self.events.on_event(address.device, event))

    async def act_on_event(self, address: DeviceAddress, event: Event, verdict: Verdict) -> None:
        """After the event's device was recorded as seen (the verdict is taken in order)."""
        if verdict is Verdict.DUPLICATE:
            log.debug("%s: duplicate event %d ignored", address.device, event.event_id)
            return
        log.info(
            "%s: event %d %s subject %s",
            address.device,
            event.event_id,
            event.kind.name,
            _bounded(event.subject),
        )
        if verdict is Verdict.GAP:
            await self.ask_rebirth(address, f"events lost before event {event.event_id}")
        await self.on_device_event(address, event)

    async def on_other(self, address: DeviceAddress) -> None:
        """Any other message: the device is alive; an unknown one is asked to introduce itself."""
        if not await seen(self.conn, address.device, self.clock()):
            await self.ask_rebirth(address, "unknown device")

    async def ask_rebirth(self, address: DeviceAddress, why: str) -> None:
        last = self._rebirth_asked.get(address.device)
        if last is not None and time.monotonic() - last < REBIRTH_INTERVAL_S:
            return
        self._rebirth_asked[address.device] = time.monotonic()
        log.info("%s: asking for a rebirth (%s)", address.device, why)
        await self._publish(address, Rebirth(self._next_txn()))

    # ---- commands -----------------------------------------------------------------------------

    def _next_txn(self) -> int:
        self._txn = self._txn % (2**32 - 1) + 1
        return self._txn

    async def command(
        self, device_id: str, make: Callable[[int], Message], timeout_s: float
    ) -> CommandResult | None:
        """Send a command and wait for its result; None if none came within `timeout_s` (a
        sleeping label runs it at its next check-in)."""
        target = await device(self.conn, device_id)
        if target is None:
            raise KeyError(device_id)
        txn = self._next_txn()
        waiter: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting[(device_id, txn)] = waiter
        try:
            address = DeviceAddress(self.push.store, target.gateway_id, device_id)
            await self._publish(address, make(txn))
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop((device_id, txn), None)

    def on_result(self, address: DeviceAddress, result: CommandResult) -> None:
        waiter = self._waiting.get((address.device, result.txn))
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    async def _publish(self, address: DeviceAddress, msg: Message) -> None:
        delivery = DELIVERY[msg.OPCODE]
        await self.publisher.publish(
            address.topic(msg.OPCODE), encode(msg), qos=delivery.qos, retain=delivery.retain
        )


def _bounded(text: str) -> str:
    """Untrusted text for a log line: quoted and escaped (no forged lines), and cut short."""
    if len(text) <= SUBJECT_LOG_CHARS:
        return repr(text)
    return f"{text[:SUBJECT_LOG_CHARS]!r} (+{len(text) - SUBJECT_LOG_CHARS} chars)"


def measured(address: DeviceAddress, telemetry: Telemetry) -> Measured:
    return Measured(address.device, telemetry.battery_mv, telemetry.rssi_dbm)


def is_label(model_id: int) -> bool:
    try:
        return ModelId(model_id).kind is DeviceKind.LABEL
    except ValueError:
        return False
