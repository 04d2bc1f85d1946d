"""Fitting rooms in the running controller (docs/fitting-rooms.md): a room's STOCK_QUERY is
answered with the other sizes and colours of the garment and their stock, its events recorded as
a visit (what was tried), its help button raised as an alert for staff that escalates while
nobody acknowledges it.

- **Answer** (PROTOCOL.md §8.3): `identify` the tag or barcode (gs1/epc.py), the item by its
  GTIN-13 with its style's variants (state/rooms_repo.py), each variant's store stock (the shelf's
  count where a smart shelf counts it, else the catalog's `stock.quantity`) and online
  availability, in at most the room model's lines, in the store's language. An unknown or
  invalid tag is `NOT_FOUND` with a line saying so; a failure `ERROR`. One database read, no
  write: the answer does not wait for a transaction.
- **Visits**: ITEM_IN / ITEM_OUT open and close a session and record each garment (the tag read,
  its GTIN and SKU, or none for an unknown tag).
- **Help**: HELP_REQUEST (the button) and a STAFF_CALL request open a `help` alert about the room
  (the room's text in its detail); HELP_CANCEL resolves it (by "room"). `escalate` (every few
  seconds) escalates the help alerts nobody has acknowledged for `escalate_after_s`, and again
  each further `escalate_after_s`; each escalation is a new version on the alert topic.

Only fitting-room models are served: an ITEM_IN or a request of another kind of device is logged
and ignored (a label cannot open visits or alerts).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import aiosqlite

from controller.catalog.variants import (
    Phrases,
    availability,
    family_order,
    phrases_for,
    variant_label,
)
from controller.state.alerts_repo import (
    AlertKind,
    NewAlert,
    escalate_due,
    open_alert_in,
    resolve_alerts_in,
)
from controller.state.devices_repo import devices_by_id
from controller.state.rooms_repo import (
    Brought,
    Variants,
    close_if_empty_in,
    count_help_in,
    item_brought_in,
    item_taken_out,
    item_with_variants,
)
from controller.state.stock_repo import shelf_summaries
from controller.state.units import run_unit
from firmware_protocol.codec import encode
from firmware_protocol.messages import (
    Event,
    EventKind,
    Request,
    RequestKind,
    Response,
    ResponseStatus,
)
from firmware_protocol.models import DeviceKind, ModelId, model
from firmware_protocol.topics import DELIVERY, DeviceAddress
from gs1.epc import ItemCodeError, identify

log = logging.getLogger(__name__)

ESCALATE_AFTER_S = 120.0  # a help press nobody acknowledged for 2 minutes is escalated
POLL_S = 5.0
LINE_CHARS = 40  # what a room's line shows; longer text is cut with "…"
SUBJECT_CHARS = 120  # of a help request's text kept in its alert


def _cut(text: str, chars: int = LINE_CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def answer_lines(
    found: Variants, counted: dict[str, int], words: Phrases, max_lines: int
) -> tuple[str, ...]:
    """The room's display: the garment, then its other variants (its colour's other sizes first,
    then the other colours), each with its stock, then a suggestion from its collection if a
    line is left. At most `max_lines` lines."""
    item = found.item
    lines = [_cut(f"{item.name} {variant_label(item)}" if item.family else item.name)]
    others = [v for v in family_order(item, found.family) if v.sku != item.sku]
    room = max_lines - 1 - (1 if found.collection else 0)
    for variant in others[: max(0, room)]:
        where = availability(variant, counted.get(variant.sku), words)
        lines.append(_cut(f"{variant_label(variant)}: {where}"))
    if found.collection and len(lines) < max_lines:
        lines.append(_cut(words.also + found.collection[0].name))
    return tuple(lines[:max_lines])


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None: ...


class FittingRooms:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        publisher: Publisher,
        clock: Callable[[], datetime],
        *,
        locale: str,
        reader: aiosqlite.Connection | None = None,
        escalate_after_s: float = ESCALATE_AFTER_S,
        on_alerts: Callable[[], None] = lambda: None,
    ) -> None:
        self.conn = conn
        self.reader = reader or conn
        self.publisher = publisher
        self.clock = clock
        self.words = phrases_for(locale)
        self.escalate_after_s = escalate_after_s
        self.on_alerts = on_alerts  # alerts changed: the alert topic's publisher is kicked
        self._lines: dict[str, int | None] = {}  # device -> its model's text lines (None: no room)
        self.answered = 0

    async def _room_lines(self, device_id: str) -> int | None:
        """The room model's text lines; None when the device is no fitting room."""
        if device_id not in self._lines:
            found = (await devices_by_id(self.reader, [device_id])).get(device_id)
            lines = None
            if found is not None:
                try:
                    kind = model(ModelId(found.model))
                except ValueError:
                    kind = None
                if kind is not None and kind.kind is DeviceKind.FITTING_ROOM:
                    lines = kind.text_lines or 1
            if found is None:
                return None  # not registered yet: asked again next time, not remembered
            if len(self._lines) > 10_000:
                self._lines.clear()
            self._lines[device_id] = lines
        return self._lines[device_id]

    # ---- requests -----------------------------------------------------------------------------

    async def on_request(self, address: DeviceAddress, request: Request) -> None:
        lines = await self._room_lines(address.device)
        if lines is None:
            log.warning("%s: a request from a device that is no fitting room", address.device)
            return
        try:
            if request.kind is RequestKind.STOCK_QUERY:
                status, text = await self.answer(request.subject, lines)
            elif request.kind is RequestKind.STAFF_CALL:
                await self._help(address.device, request.subject)
                status, text = ResponseStatus.OK, (self.words.staff_called,)
            else:
                return
        except Exception:
            log.exception("%s: request %d failed", address.device, request.txn)
            status, text = ResponseStatus.ERROR, (self.words.failed,)
        await self._respond(address, Response(request.txn, status, text))

    async def answer(self, code: str, max_lines: int) -> tuple[ResponseStatus, tuple[str, ...]]:
        try:
            found = identify(code)
        except ItemCodeError as exc:
            log.info("fitting room: %s", exc)
            return ResponseStatus.NOT_FOUND, (self.words.unknown_tag,)
        gtin13 = found.gtin13
        variants = None if gtin13 is None else await item_with_variants(self.reader, gtin13)
        if variants is None:
            return ResponseStatus.NOT_FOUND, (self.words.no_item,)
        skus = [v.sku for v in variants.family]
        counted = {
            sku: summary.count
            for sku, summary in (await shelf_summaries(self.reader, skus)).items()
        }
        return ResponseStatus.OK, answer_lines(variants, counted, self.words, max_lines)

    async def _respond(self, address: DeviceAddress, response: Response) -> None:
        delivery = DELIVERY[response.OPCODE]
        await self.publisher.publish(
            address.topic(response.OPCODE),
            encode(response),
            qos=delivery.qos,
            retain=delivery.retain,
        )
        self.answered += 1

    # ---- events -------------------------------------------------------------------------------

    async def on_event(self, address: DeviceAddress, event: Event) -> None:
        if event.kind not in (
            EventKind.ITEM_IN,
            EventKind.ITEM_OUT,
            EventKind.HELP_REQUEST,
            EventKind.HELP_CANCEL,
        ):
            return
        device = address.device
        if await self._room_lines(device) is None:
            log.warning("%s: a fitting-room event from a device that is no room", device)
            return
        now = self.clock()
        if event.kind is EventKind.ITEM_IN:
            await item_brought_in(self.conn, device, await self._brought(event.subject), now)
        elif event.kind is EventKind.ITEM_OUT:
            await item_taken_out(self.conn, device, event.subject[:64], now)
        elif event.kind is EventKind.HELP_REQUEST:
            await self._help(device, event.subject)
        else:
            await run_unit(self.conn, _cancel_help, device, now)
            self.on_alerts()

    async def _brought(self, code: str) -> Brought:
        try:
            gtin13 = identify(code).gtin13
        except ItemCodeError:
            return Brought(code[:64], None, None)
        if gtin13 is None:
            return Brought(code[:64], None, None)
        variants = await item_with_variants(self.reader, gtin13, suggestions=0)
        return Brought(code[:64], gtin13, None if variants is None else variants.item.sku)

    async def _help(self, device_id: str, subject: str) -> None:
        alert = NewAlert(
            AlertKind.HELP, device_id, device_id, None, None, {"asked": subject[:SUBJECT_CHARS]}
        )
        await run_unit(self.conn, _open_help, alert, device_id, self.clock())
        self.on_alerts()

    async def call_staff(self, device_id: str, asked: str) -> bool:
        """A call for staff from elsewhere than the room's button (the console's kiosk page): the
        same help alert a HELP_REQUEST opens, counted in the visit. False, and nothing done, when
        the device is no fitting room."""
        if await self._room_lines(device_id) is None:
            return False
        await self._help(device_id, asked)
        return True

    async def escalate(self) -> int:
        """Escalate the unacknowledged help alerts; how many were."""
        now = self.clock()
        before = now - timedelta(seconds=self.escalate_after_s)
        escalated = await escalate_due(self.conn, [AlertKind.HELP], before, now)
        for alert in escalated:
            log.warning(
                "help in %s unanswered since %s (escalation %d)",
                alert.subject,
                alert.opened_at.isoformat(timespec="seconds"),
                alert.escalations,
            )
        if escalated:
            self.on_alerts()
        return len(escalated)


def _open_help(db: sqlite3.Connection, alert: NewAlert, device_id: str, at: datetime) -> None:
    if open_alert_in(db, alert, at):
        count_help_in(db, device_id, at)


def _cancel_help(db: sqlite3.Connection, device_id: str, at: datetime) -> None:
    resolve_alerts_in(db, [AlertKind.HELP], device_id, "room", at)
    close_if_empty_in(db, device_id, at)
