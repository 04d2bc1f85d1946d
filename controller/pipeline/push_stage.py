"""Planned pushes -> Desired offers and chunks on the broker -> confirmed by the labels' reports.

The outbox (state/labels_repo.py) says which label owes which revision; this stage sends it:
- a label that is offline is not sent to; its Birth makes its push due at once (catch-up);
- the offer is a delta against the image the label reports showing when that is smaller (a
  price-only change is a few hundred bytes), else a full frame (firmware_protocol/transfer.py);
  the render workers built it already (pipeline/prepared.py), so this stage only frames it;
  one built for another image or against what the label no longer shows is built here again;
- each attempt sets when to try again if no report confirms it: the label's check-in period plus
  a margin, doubling with each attempt, capped; after `max_attempts` the label gets a problem
  report (a person must look at it) and is still retried, slowly;
- the label's transfer requests are answered from the offer in memory (controller/transfers.py);
  a request for an offer this process does not know (it restarted) makes the push due again;
  a transfer that failed (TOO_LARGE at once, or every full re-offer failed) gives the label a
  problem; after TOO_LARGE the revision is not offered again (PROTOCOL.md §4.7): the push is
  parked until a newer image or the label's next Birth (new firmware may take it) makes it due;
- a label's report counts only if it is credible (controller/report_check.py): one claiming a
  revision above the desired one or an image never sent is not recorded; it raises a problem
  and a corrective push (backing off for a label that keeps doing it). Reports reach this stage
  only from the label's current gateway (controller/gateways.py).

Most urgent first (staff, single changes, then bulk), and a newer image replaces the one queued
for a label, so a store-wide reprice never delays a price fix. Messages of one label are
published in order (Desired before its chunks) on the one connection; a few senders each publish
the most urgent queued labels in a batch whose acks are awaited together, so many labels are in
flight at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiosqlite

from controller.bulk_publish import Outbound
from controller.link import Publisher
from controller.pipeline.prepared import (
    OfferState,
    PreparedTransfer,
    PreparedTransfers,
    offer_states,
)
from controller.report_check import ReportCheck
from controller.state.database import transaction
from controller.state.devices_repo import Device, devices_by_id
from controller.state.fleet_repo import having_problem, set_problem
from controller.state.labels_repo import (
    DesiredImage,
    Priority,
    Push,
    desired_images,
    due_pushes,
    ensure_push,
    postpone_offline,
    push_attempted,
    pushes_attempted,
    record_reports,
)
from controller.transfers import ImageTransfers, Outcome
from firmware_protocol.codec import encode
from firmware_protocol.messages import (
    Message,
    Opcode,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.topics import DELIVERY, DeviceAddress
from firmware_protocol.transfer import chunk_size_for

log = logging.getLogger(__name__)

ROUND_LIMIT = 512
# A sender takes queued labels until its batch has this many messages (a label's are never
# split); SENDERS senders bound the device session's unacknowledged messages to about
# SENDERS * SEND_BATCH_MESSAGES (the session has no paho window: controller/runtime.py).
SEND_BATCH_MESSAGES = 48
SENDERS = 4
RETRY_MARGIN_S = 10.0
RETRY_CAP_S = 900.0
OFFLINE_RECHECK_S = 300.0
TOO_LARGE_PARK_S = 7 * 86_400.0  # a revision a label cannot hold is not offered again
PUSH_PROBLEM = "no confirmation"


@dataclass(frozen=True, slots=True, order=True)
class Outgoing:
    """One label's messages for the senders, ordered by priority, then first come."""

    priority: int
    order: int
    batch: list[tuple[DeviceAddress, Message]] = field(compare=False)


@dataclass(frozen=True, slots=True)
class PushRound:
    sent: int
    waiting_offline: int


def retry_delay(label: Device, attempts: int) -> float:
    """Seconds to wait for a report before offering again."""
    base = 2 * label.checkin_s + RETRY_MARGIN_S
    return float(min(RETRY_CAP_S, base * 2**attempts))


class PushStage:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        publisher: Publisher,
        store: str,
        *,
        clock: Callable[[], datetime],
        max_attempts: int,
        senders: int = SENDERS,
        reader: aiosqlite.Connection | None = None,
        prepared: PreparedTransfers | None = None,
    ) -> None:
        self.conn = conn
        self.reader = reader or conn  # reads: another connection's thread, beside the writes
        # Transfers the render workers built (the render stage of the same database fills it).
        self.prepared = prepared if prepared is not None else PreparedTransfers.of(conn)
        self.publisher = publisher
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.transfers = ImageTransfers()
        self.report_check = ReportCheck(conn, clock=clock)
        # Most urgent first: a staff fix or a single change overtakes a reprice's queued
        # offers. Bounded by the rounds (below), not by the queue, so that putting never waits.
        self.outgoing: asyncio.PriorityQueue[Outgoing] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self.senders = senders
        self.bytes_sent = 0
        self.on_drained: Callable[[], None] = lambda: None  # room for another round

    async def run_round(self) -> PushRound:
        """Offer every due push once; returns what was sent.

        The round reads its labels and images in a few queries and records its attempts in one
        transaction, then hands the offers to the senders outside it (a full send queue must
        not hold the database).
        """
        now = self.clock()
        # With a round's worth of offers still waiting for the senders, only urgent pushes are
        # taken: the bulk ones stay in the outbox (durable, and replaceable by a newer image).
        full = self.outgoing.qsize() >= ROUND_LIMIT
        due = await due_pushes(self.reader, now, ROUND_LIMIT, below=Priority.BULK if full else None)
        if not due:
            return PushRound(0, 0)
        ids = [push.device_id for push in due]
        labels = await devices_by_id(self.reader, ids)
        states, ready, images = await self._transfers(due, labels)
        attempts: list[tuple[str, int, datetime]] = []
        postponed: list[tuple[str, int, datetime]] = []
        problems: dict[str, str] = {}
        offers: list[tuple[Priority, list[tuple[DeviceAddress, Message]]]] = []
        offline = 0
        for push in due:
            label = labels.get(push.device_id)
            if label is None or not label.adopted or not label.online:
                offline += 1
                later = now + timedelta(seconds=OFFLINE_RECHECK_S)
                postponed.append((push.device_id, push.revision, later))
                continue
            if push.attempts >= self.max_attempts and push.attempts % self.max_attempts == 0:
                problem = f"{PUSH_PROBLEM} of revision {push.revision} after {push.attempts} tries"
                problems[push.device_id] = problem
            state = states.get(push.device_id)
            if state is None or state.revision != push.revision:
                continue  # superseded between the two reads; the next round has the new one
            address = DeviceAddress(self.store, label.gateway_id, label.device_id)
            chunk_size = chunk_size_for(label.max_packet, address.topic(Opcode.CHUNK))
            messages = self._offer(push, chunk_size, ready.get(push.device_id), images)
            if messages is None:
                continue  # superseded between the reads; the next round has the new one
            delay = timedelta(seconds=retry_delay(label, push.attempts))
            attempts.append((push.device_id, push.revision, now + delay))
            offers.append((push.priority, [(address, m) for m in messages]))
        async with transaction(self.conn):
            await pushes_attempted(self.conn, attempts)
            # Conditional: a Birth recorded since the read above has made its push due again.
            await postpone_offline(self.conn, postponed)
            for device_id, problem in problems.items():
                await set_problem(self.conn, device_id, problem, now)
        for priority, offer in offers:
            self._enqueue(priority, offer)
        if offers or offline:
            log.info(
                "offered %d images (%d built by the render workers), %d labels offline",
                len(offers),
                len(ready),
                offline,
            )
        return PushRound(len(offers), offline)

    async def _transfers(
        self, due: list[Push], labels: dict[str, Device]
    ) -> tuple[dict[str, OfferState], dict[str, PreparedTransfer], dict[str, DesiredImage]]:
        """The desired image of each due label, the transfers the workers built that still fit,
        and the stored images of the labels to be offered whose transfer must be built here."""
        states = await offer_states(self.reader, [push.device_id for push in due])
        ready: dict[str, PreparedTransfer] = {}
        rebuild: list[str] = []
        for push in due:
            label, state = labels.get(push.device_id), states.get(push.device_id)
            if not (label and label.adopted and label.online and state):
                continue  # not offered this round: its entry stays for when it is
            if state.revision != push.revision:
                continue  # superseded; the next round has the new one
            entry = self.prepared.take(push.device_id, state)
            if entry is None:
                rebuild.append(push.device_id)
            else:
                ready[push.device_id] = entry
        # Only these have their images read and inflated, and their transfer built, here.
        images = await desired_images(self.reader, rebuild) if rebuild else {}
        return states, ready, images

    def _offer(
        self,
        push: Push,
        chunk_size: int,
        entry: PreparedTransfer | None,
        images: dict[str, DesiredImage],
    ) -> list[Message] | None:
        """The label's Desired and chunks, from its prepared transfer if it has one, else built
        from its stored images; None if the image read is not the push's revision."""
        if entry is not None:
            self.prepared.used += 1
            return self.transfers.offer_prepared(
                push.device_id,
                entry.payload,
                stored=entry.stored,
                revision=push.revision,
                chunk_size=chunk_size,
            )
        image = images.get(push.device_id)
        if image is None or image.revision != push.revision:
            return None
        self.prepared.rebuilt += 1
        return self.transfers.offer(
            push.device_id,
            image.planes,
            revision=image.revision,
            chunk_size=chunk_size,
            base=image.shown,
            compressed=image.stored,
        )

    def _enqueue(self, priority: Priority, batch: list[tuple[DeviceAddress, Message]]) -> None:
        self.outgoing.put_nowait(Outgoing(int(priority), next(self._order), batch))

    async def send_forever(self) -> None:
        """One sender: publishes the most urgent labels' messages, a batch at a time (in order
        per label, acknowledged together: controller/bulk_publish.py)."""
        while True:
            taken = [await self.outgoing.get()]
            size = len(taken[0].batch)
            while size < SEND_BATCH_MESSAGES and not self.outgoing.empty():
                taken.append(self.outgoing.get_nowait())
                size += len(taken[-1].batch)
            left = self.outgoing.qsize()
            if left < ROUND_LIMIT // 2 <= left + len(taken):
                self.on_drained()
            await self.send([message for outgoing in taken for message in outgoing.batch])

    async def send(self, batch: list[tuple[DeviceAddress, Message]]) -> None:
        messages: list[Outbound] = []
        for address, msg in batch:
            delivery = DELIVERY[msg.OPCODE]
            frame = encode(msg)
            self.bytes_sent += len(frame)
            messages.append(
                Outbound(address.topic(msg.OPCODE), frame, delivery.qos, delivery.retain)
            )
        await self.publisher.publish_all(messages)

    # ---- what labels say ----------------------------------------------------------------------

    async def on_reported(self, address: DeviceAddress, reported: Reported) -> bool:
        """Record what the label shows; True when that settled its push."""
        return await self.on_reports([(address, reported)])

    async def on_reports(self, reports: list[tuple[DeviceAddress, Reported]]) -> bool:
        """Record what labels show, in arrival order; True when that settled a push or made a
        corrective one."""
        now = self.clock()
        reports, doubted = await self.report_check.sort(reports)
        corrected = await self.report_check.answer(doubted) if doubted else 0
        if not reports:
            return corrected > 0
        recorded = await record_reports(
            self.conn, [(a.device, r.revision, r.content_hash) for a, r in reports], now
        )
        settled: list[str] = []
        for (address, reported), new in zip(reports, recorded, strict=True):
            if not new:
                continue
            if reported.result is ReportResult.REFRESH_FAILED:
                await set_problem(self.conn, address.device, "panel refresh failed", now)
            if self.transfers.on_reported(address.device, reported) is Outcome.SETTLED:
                settled.append(address.device)
        for device_id in await having_problem(self.conn, settled, PUSH_PROBLEM):
            await set_problem(self.conn, device_id, None, now)
        return bool(settled) or corrected > 0

    async def on_transfer_request(self, address: DeviceAddress, request: XferRequest) -> None:
        answer = self.transfers.on_request(address.device, request)
        now = self.clock()
        too_large = request.reason is XferReason.TOO_LARGE
        if answer.outcome is Outcome.FAILED:
            problem = f"could not take revision {request.revision}: {request.reason.name}"
            await set_problem(self.conn, address.device, problem, now)
            if too_large:
                parked = now + timedelta(seconds=TOO_LARGE_PARK_S)
                await push_attempted(self.conn, address.device, request.revision, parked)
            return
        if answer.outcome is Outcome.IGNORED:
            # A TOO_LARGE for no offer in flight (a repeated request, or one this process
            # does not know) is no reason to offer the image again.
            if self.transfers.in_flight(address.device) is None and not too_large:
                # An offer this process does not know (it restarted, or the label lost the
                # image it had confirmed): offer the desired image again.
                await ensure_push(self.conn, address.device, now)
            return
        # The rest of a transfer under way goes first: the label is awake and waiting for it.
        self._enqueue(Priority.STAFF, [(address, m) for m in answer.messages])
