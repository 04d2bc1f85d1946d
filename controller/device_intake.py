"""A batch of device messages, walked in order and recorded in a few units of work.

Why: a store's first convergence brings thousands of births, then thousands of reports. Handled
one message at a time, each birth cost a dozen hops to the database's thread and reports waited
behind them. Here the walk only parses, admits (controller/gateways.py) and sorts messages into
two pending lists, each recorded in bulk:
- facts (births, deaths, telemetry, any other message as "seen"): one unit of work
  (state/device_facts.py) on the database's thread, the network actions after its commit
  (controller/fleet.py);
- reports: judged and recorded together by the push stage (a few statements for the run).
A fitting room's Request is answered at once, in a task of its own (controller/fitting_rooms.py).
A shelf sensor's Telemetry is fed to the shelves' pipeline (controller/shelf_service.py) as it is
walked, in memory; what it says is recorded once per batch, before the labels' reports.
Order is kept where it matters, per device: a message of a device that has something pending
in the other list flushes that list first, and a message whose device or gateway has a Birth
pending flushes the facts first (the Birth decides who may speak for the device: an access point
born in this batch is trusted for the labels behind it). Messages of different devices commute,
so the reports of the batch are recorded first: labels are confirmed without waiting for the
births that arrived ahead of them.

A batch is not one transaction: what devices send is sent again (retained documents, QoS 1
retries), so a crash between two units loses nothing that does not come back.

The urgent lane (`on_urgent`, controller/device_link/process.py) brings fitting rooms' requests
(and could bring telemetry: URGENT_CHANNELS) apart from the bulk of the traffic. It handles a
message only when its device is registered behind the gateway it came through, which the bulk
lane cannot change meanwhile but by a Birth, and a Birth only moves a device that came through
its new gateway.
Anything else (a new device, a moved one) is handed back to the bulk lane, behind its Birth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.device_events import Verdict
from controller.fitting_rooms import FittingRooms
from controller.fleet import Fleet, measured
from controller.link import Incoming
from controller.pipeline.push_stage import PushStage
from controller.shelf_service import ShelfService
from controller.state.device_facts import DeviceFact, Died, Seen
from firmware_protocol.codec import decode
from firmware_protocol.errors import ProtocolError
from firmware_protocol.messages import (
    Birth,
    CommandResult,
    Death,
    Event,
    Message,
    Reported,
    Request,
    Telemetry,
    XferRequest,
)
from firmware_protocol.topics import DELIVERY, Channel, DeviceAddress, Direction, parse_topic

log = logging.getLogger(__name__)

# The channels of the urgent lane (`on_urgent`): a shopper's question. `on_urgent` takes
# telemetry too, but 500 shelf sensors' readings a second in a lane of their own slowed a
# reprice by a fifth and its single price change by half (BENCHMARKS.md), for no faster alert.
URGENT_CHANNELS = frozenset({Channel.REQUEST.value})
URGENT_FACTS_EVERY_S = 1.0


@dataclass(slots=True)
class _Pending:
    facts: list[tuple[DeviceAddress, DeviceFact, Message]] = field(default_factory=list)
    fact_devices: set[str] = field(default_factory=set)
    born: set[str] = field(default_factory=set)
    events: list[tuple[DeviceAddress, Event, Verdict]] = field(default_factory=list)
    requests: list[tuple[DeviceAddress, Request]] = field(default_factory=list)
    reports: list[tuple[DeviceAddress, Reported]] = field(default_factory=list)
    report_devices: set[str] = field(default_factory=set)


class DeviceIntake:
    def __init__(
        self,
        fleet: Fleet,
        push: PushStage,
        *,
        on_settled: Callable[[], None],
        shelves: ShelfService | None = None,
        rooms: FittingRooms | None = None,
    ) -> None:
        self.fleet = fleet
        self.push = push
        self.on_settled = on_settled  # a report settled a push or made a correction
        self.shelves = shelves  # shelf sensors' lane_grams (controller/shelf_service.py)
        self.rooms = rooms  # fitting rooms' requests (controller/fitting_rooms.py)
        self._answering: set[asyncio.Task[None]] = set()  # requests being answered
        # The urgent lane's facts (a device's latest reading, that it was seen), recorded
        # together at most every URGENT_FACTS_EVERY_S: 500 sensors a second would otherwise
        # be a unit of work per urgent batch, each taking the database from the reprice's.
        self._urgent_facts: dict[tuple[str, type], tuple[DeviceAddress, DeviceFact, Message]] = {}
        self._recording: asyncio.Task[None] | None = None

    async def on_messages(self, batch: list[Incoming]) -> None:
        pending = _Pending()
        for incoming in batch:
            try:
                await self._walk(incoming, pending)
            except Exception:  # one bad message must not stop the store's traffic
                log.exception("failed to handle %s", incoming.topic)
        if self.shelves is not None:  # first: a staff alert does not wait for labels' reports
            try:
                await self.shelves.flush()
            except Exception:
                log.exception("failed to record shelf events")
        await self._flush_reports(pending)
        await self._flush_facts(pending)

    async def on_urgent(self, batch: list[Incoming]) -> list[Incoming]:
        """Requests and telemetry of registered devices, from their own gateway: answered and
        fed to the shelves at once, their facts recorded within URGENT_FACTS_EVERY_S. Returns
        the rest in arrival order, for the bulk lane (`on_messages`)."""
        mine: list[tuple[int, DeviceAddress, Message]] = []
        later: list[int] = []  # indexes in the batch
        for index, incoming in enumerate(batch):
            found = _parse(incoming)
            if found is None:
                continue
            if isinstance(found[1], Request | Telemetry):
                mine.append((index, *found))
            else:
                later.append(index)  # not this lane's: handled in order with the rest
        try:
            homes = await self.fleet.trust.homes([address.device for _, address, _ in mine])
        except Exception:  # the bulk lane handles them, one by one
            log.exception("failed to look up %d devices", len(mine))
            homes = {}
        for index, address, msg in mine:
            fact: DeviceFact
            if homes.get(address.device) != address.gateway:
                later.append(index)  # unknown, or moving: after its Birth, in the bulk lane
                continue
            if isinstance(msg, Request):
                if self.rooms is not None:
                    self._spawn_answer(address, msg)
                fact = Seen(address.device)
            else:
                assert isinstance(msg, Telemetry)
                if msg.lane_grams and self.shelves is not None:
                    self.shelves.on_telemetry(address.device, msg.lane_grams, msg.seq)
                fact = measured(address, msg)
            self._urgent_facts[address.device, type(fact)] = (address, fact, msg)  # the latest
        if self.shelves is not None:
            try:
                await self.shelves.flush()
            except Exception:
                log.exception("failed to record shelf events")
        if self._urgent_facts and self._recording is None:
            self._recording = asyncio.create_task(self._record_urgent_facts())
        return [batch[index] for index in sorted(later)]

    async def _record_urgent_facts(self) -> None:
        """The urgent lane's facts of the last URGENT_FACTS_EVERY_S, in one unit of work. A
        controller stopped meanwhile loses them: readings and sightings that the devices send
        again (telemetry is QoS 0 and periodic)."""
        try:
            await asyncio.sleep(URGENT_FACTS_EVERY_S)
            facts, self._urgent_facts = list(self._urgent_facts.values()), {}
            try:
                await self.fleet.record(facts)
            except Exception:
                log.exception("failed to record %d device messages", len(facts))
        finally:
            self._recording = None

    async def _walk(self, incoming: Incoming, pending: _Pending) -> None:
        found = _parse(incoming)
        if found is None:
            return
        address, msg = found
        device = address.device
        if pending.born & {device, address.gateway} or (
            isinstance(msg, Reported) and device in pending.fact_devices
        ):
            await self._flush_facts(pending)
        if isinstance(msg, Reported):
            pending.reports.append((address, msg))  # admitted when recorded
            pending.report_devices.add(device)
            return
        if device in pending.report_devices:
            await self._flush_reports(pending)
        if not await self.fleet.admits(address, msg):
            return  # a gateway speaking for a device it does not carry (controller/gateways.py)
        fact: DeviceFact
        if isinstance(msg, Birth):
            fact = self.fleet.born(address, msg, replayed=incoming.retain)
            pending.born.add(device)
        elif isinstance(msg, Death):
            fact = Died(device, msg.session)
        elif isinstance(msg, Telemetry):
            fact = measured(address, msg)
            if msg.lane_grams and self.shelves is not None:
                self.shelves.on_telemetry(device, msg.lane_grams, msg.seq)  # never raises
        elif isinstance(msg, XferRequest):
            if device in pending.fact_devices:
                await self._flush_facts(pending)  # its Birth forgets transfers in RAM
            await self.push.on_transfer_request(address, msg)
            return
        else:
            if isinstance(msg, Event):  # judged in order, acted on after the commit
                pending.events.append((address, msg, self.fleet.events.on_event(device, msg)))
            elif isinstance(msg, Request):
                self._request(address, msg, pending)
            elif isinstance(msg, CommandResult):
                self.fleet.on_result(address, msg)
            fact = Seen(device)
        pending.facts.append((address, fact, msg))
        pending.fact_devices.add(device)

    def _request(self, address: DeviceAddress, request: Request, pending: _Pending) -> None:
        """A room's question is answered at once, beside the batch's other work (one read on the
        reader connection): a shopper does not wait for the labels' reports of a reprice. A
        device born in this batch is answered after the commit of its Birth, once it is known."""
        if self.rooms is None:
            return
        if address.device in pending.born or address.gateway in pending.born:
            pending.requests.append((address, request))
            return
        self._spawn_answer(address, request)

    def _spawn_answer(self, address: DeviceAddress, request: Request) -> None:
        task = asyncio.create_task(self._answer(address, request))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, address: DeviceAddress, request: Request) -> None:
        assert self.rooms is not None
        try:
            await self.rooms.on_request(address, request)
        except Exception:
            log.exception("failed to answer request %d of %s", request.txn, address.device)

    async def _flush_facts(self, pending: _Pending) -> None:
        facts, events, requests = pending.facts, pending.events, pending.requests
        pending.facts, pending.events, pending.requests = [], [], []
        pending.fact_devices.clear()
        pending.born.clear()
        try:
            await self.fleet.record(facts)
        except Exception:
            log.exception("failed to record %d device messages", len(facts))
            return
        for address, event, verdict in events:
            try:
                await self.fleet.act_on_event(address, event, verdict)
            except Exception:
                log.exception("failed to handle event %d of %s", event.event_id, address.device)
        for address, request in requests:
            await self._answer(address, request)

    async def _flush_reports(self, pending: _Pending) -> None:
        reports = pending.reports
        if not reports:
            return
        pending.reports = []
        pending.report_devices.clear()
        try:
            # Only from each label's current gateway (controller/gateways.py).
            admitted = await self.fleet.trust.admit(reports, "reported")
            if admitted and await self.push.on_reports(admitted):
                self.on_settled()
        except Exception:
            log.exception("failed to record %d reports", len(reports))


def _parse(incoming: Incoming) -> tuple[DeviceAddress, Message] | None:
    """The device's address and its message; None (logged) for what no device may send."""
    if not incoming.payload:
        return None  # a deleted retained document (PROTOCOL.md §2.5)
    try:
        parsed = parse_topic(incoming.topic)
        msg = decode(incoming.payload)
    except ProtocolError as exc:
        log.warning("dropped a frame on %s: %s", incoming.topic, exc)
        return None
    delivery = DELIVERY[msg.OPCODE]
    if parsed.direction is not Direction.UP or delivery.channel is not parsed.channel:
        log.warning("dropped %s on channel %s", type(msg).__name__, parsed.channel)
        return None
    return parsed.address, msg
