"""A simulated fitting-room device: an RFID reader, a help button and a small text display.

Shoppers arrive as a Poisson process, bring one to three items (ITEM_IN with the tag's EPC),
the device asks the controller which sizes and colours are in stock (a REQUEST with a
transaction id) and shows the response lines. A question unanswered after ANSWER_WAIT_S is asked
once more with the same txn, then the display says no answer came (PROTOCOL.md §8.3: a device
MAY retry once; asking again cannot change the answer). Some shoppers press for help
(`Behaviour.help_share`). No shopper comes before `Behaviour.shoppers_after_s` from the room's
first tick (the store opens).

The tags are SGTIN-96 EPCs, as a retailer's garments carry them: `catalogue_tags` encodes them
from catalog GTINs with the controller's own codec (gs1/epc.py), so what
the simulator sends is what the controller decodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from device_sim.device import SimDevice
from firmware_protocol.messages import (
    Event,
    EventKind,
    Message,
    Request,
    RequestKind,
    Response,
)
from gs1.epc import FILTER_POS_ITEM, encode_sgtin96


def catalogue_tags(
    gtins: Iterable[str], company_prefix_length: int, *, tags_per_gtin: int = 3
) -> tuple[str, ...]:
    """The EPCs of the garments on the shop floor: `tags_per_gtin` tags of each catalog GTIN,
    serials 1, 2, ..., as SGTIN-96 with the point-of-sale filter.

    The company prefix length is GS1's assignment, not part of the GTIN; one length for the
    whole catalog is a simulation's simplification (a real catalog has one per brand owner).
    GTINs of restricted circulation (in-store codes 02, 20-29) name no trade item worldwide and
    must not be passed here.
    """
    return tuple(
        encode_sgtin96(gtin, company_prefix_length, serial, filter=FILTER_POS_ITEM)
        for gtin in gtins
        for serial in range(1, tags_per_gtin + 1)
    )


ANSWER_WAIT_S = 10.0  # PROTOCOL.md §8.3
NO_ANSWER = ("?",)  # what the display shows when neither the question nor its retry was answered


@dataclass
class _Asked:
    epc: str
    at: float
    retried: bool = False


@dataclass
class SimFittingRoom(SimDevice):
    mains_powered: bool = True
    catalogue_epcs: tuple[str, ...] = ()
    items_inside: list[str] = field(default_factory=list)
    leave_at: float | None = None
    display: tuple[str, ...] = ()
    pending_txn: dict[int, _Asked] = field(default_factory=dict)
    retries: int = 0  # questions asked again for want of an answer
    unanswered: int = 0  # given up after the retry
    next_txn: int = 0
    last_step: float | None = None
    help_open: bool = False
    opens_at: float | None = None  # no shopper before; set at the first tick

    def handle(self, msg: Message, now: float) -> list[Message]:
        if isinstance(msg, Response):
            if self.pending_txn.pop(msg.txn, None) is not None:
                self.display = msg.lines[: self.model.text_lines]
            return []
        return super().handle(msg, now)

    def bring_in(self, epc: str, now: float = 0.0) -> list[Message]:
        self.items_inside.append(epc)
        self.next_txn += 1
        self.pending_txn[self.next_txn] = _Asked(epc, now)
        return [
            Event(self.next_event_id(), EventKind.ITEM_IN, epc),
            Request(self.next_txn, RequestKind.STOCK_QUERY, epc),
        ]

    def _ask_again(self, now: float) -> list[Message]:
        """Questions waiting longer than ANSWER_WAIT_S: asked once more, then given up."""
        out: list[Message] = []
        for txn, asked in list(self.pending_txn.items()):
            if now - asked.at < ANSWER_WAIT_S:
                continue
            if asked.retried:
                del self.pending_txn[txn]
                self.unanswered += 1
                self.display = NO_ANSWER
            else:
                asked.at, asked.retried = now, True
                self.retries += 1
                out.append(Request(txn, RequestKind.STOCK_QUERY, asked.epc))
        return out

    def press_help(self) -> list[Message]:
        self.help_open = True
        return [Event(self.next_event_id(), EventKind.HELP_REQUEST, self.device_id)]

    def tick(self, now: float) -> list[Message]:
        out = super().tick(now)
        dt = 0.0 if self.last_step is None else now - self.last_step
        self.last_step = now
        if self.opens_at is None:
            self.opens_at = now + self.behaviour.shoppers_after_s
        out += self._ask_again(now)
        if self.leave_at is not None and now >= self.leave_at:
            for epc in self.items_inside:
                out.append(Event(self.next_event_id(), EventKind.ITEM_OUT, epc))
            if self.help_open:
                out.append(Event(self.next_event_id(), EventKind.HELP_CANCEL, self.device_id))
            self.items_inside, self.leave_at, self.display, self.help_open = [], None, (), False
            return out
        arrival_p = 1.0 - math.exp(-self.behaviour.fitting_visits_per_h * dt / 3600.0)
        shoppers = self.leave_at is None and self.catalogue_epcs and now >= self.opens_at
        if shoppers and self.rng.random() < arrival_p:
            for _ in range(self.rng.randint(1, 3)):
                out += self.bring_in(self.rng.choice(self.catalogue_epcs), now)
            self.leave_at = now + self.rng.uniform(120, 600)
            if self.rng.random() < self.behaviour.help_share:
                out += self.press_help()
        return out
