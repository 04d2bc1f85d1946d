"""HQ's catalog messages -> the durable catalog, without a store-wide batch holding up a price fix.

The catalog session hands over what has arrived, in arrival order, and acknowledges each message
(PUBACK, in arrival order) only after its handler returned: an acknowledged change is on disk.
Handlers of later messages may run while an earlier one is still storing (the link's
`concurrency`), so that:

- small messages (single changes, small batches) that arrived together are stored in one
  transaction;
- a large batch (a store-wide reprice: 16,000 changes, ~3 s to parse and store) is parsed off the
  event loop and stored in parts of `PART` changes, one transaction each. Between the parts, the
  changes that arrived after it are stored too, so a single price change published during the
  reprice is on its way in milliseconds instead of waiting for the whole batch. Its labels are
  queued by priority, so they also overtake the batch's in the render and push stages.

Arrival order still decides, as if every message had been stored one after another: a part of a
batch leaves out each change of an item that a later message has stored meanwhile, unless both
carry an HQ version and the batch's is the newer (versions alone order those). A crash midway
loses nothing: the batch was not acknowledged, the broker delivers it again, and the parts already
stored come back as duplicates.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from controller.catalog.feed import Delete, ParsedMessage, Upsert, parse_catalog_message
from controller.link import Incoming, Publisher
from controller.pipeline.ingest import ChangeResult
from controller.state.catalog_repo import Stored
from controller.state.database import transaction
from controller.state.labels_repo import Priority

log = logging.getLogger(__name__)

PART = 1000  # changes of a large batch stored per transaction
OFF_LOOP_BYTES = 64 * 1024  # larger payloads are parsed in a thread

# Stores changes and queues their labels in one transaction; None: by the number of changes.
Apply = Callable[[list[Upsert | Delete], Priority | None], Awaitable[list[ChangeResult]]]


@dataclass
class _LargeBatch:
    """A batch being stored in parts, and the items later messages have changed meanwhile."""

    arrival: int
    changed_later: dict[str, int | None] = field(default_factory=dict)  # sku -> later version

    def keeps(self, change: Upsert | Delete) -> bool:
        """False for a change that a later message has superseded."""
        sku = change.item.sku if isinstance(change, Upsert) else change.sku
        if sku not in self.changed_later:
            return True
        later = self.changed_later[sku]
        mine = change.item.version if isinstance(change, Upsert) else change.version
        return mine is not None and later is not None and mine > later


class CatalogIntake:
    def __init__(
        self, store: str, conn: aiosqlite.Connection, apply: Apply, status: Publisher
    ) -> None:
        self.store = store
        self.conn = conn
        self.apply = apply
        self.status = status
        self._arrivals = itertools.count()
        self._large: list[_LargeBatch] = []

    async def on_messages(self, batch: list[Incoming]) -> None:
        """Store what arrived (durably when this returns) and send each message's receipt:
        the small ones first, together, then each large batch in parts."""
        # Registered before the first await: a later handler that stores a change while this
        # one is still parsing must already see that an earlier message is pending.
        pending = [_LargeBatch(next(self._arrivals)) for _ in batch]
        arrivals = [p.arrival for p in pending]
        self._large += pending
        try:
            parsed = [await self._parse(incoming) for incoming in batch]
            large = {i: pending[i] for i, p in enumerate(parsed) if len(p.changes) > PART}
            small: list[tuple[Incoming, ParsedMessage, list[ChangeResult]]] = []
            async with transaction(self.conn):
                for i, message in enumerate(parsed):
                    if i not in large:
                        stored = await self._store(arrivals[i], message.changes)
                        small.append((batch[i], message, stored))
            await asyncio.gather(*(self._receipt(*outcome) for outcome in small))
            for i, in_parts in large.items():
                stored = await self._store_in_parts(in_parts, batch[i], parsed[i])
                await self._receipt(batch[i], parsed[i], stored)
        finally:
            for registered in pending:
                self._large.remove(registered)

    async def _parse(self, incoming: Incoming) -> ParsedMessage:
        if len(incoming.payload) > OFF_LOOP_BYTES:
            return await asyncio.to_thread(
                parse_catalog_message, self.store, incoming.topic, incoming.payload
            )
        return parse_catalog_message(self.store, incoming.topic, incoming.payload)

    async def _store(
        self,
        arrival: int,
        changes: Sequence[Upsert | Delete],
        priority: Priority | None = None,
    ) -> list[ChangeResult]:
        if not changes:
            return []
        results = await self.apply(list(changes), priority)
        for pending in self._large:
            if pending.arrival < arrival:
                for change in changes:
                    if isinstance(change, Upsert):
                        pending.changed_later[change.item.sku] = change.item.version
                    else:
                        pending.changed_later[change.sku] = change.version
        return results

    async def _store_in_parts(
        self, pending: _LargeBatch, incoming: Incoming, message: ParsedMessage
    ) -> list[ChangeResult]:
        started = time.perf_counter()
        results: list[ChangeResult] = []
        changes = message.changes
        for start in range(0, len(changes), PART):
            part = changes[start : start + PART]
            kept = [c for c in part if pending.keeps(c)]
            superseded = [c for c in part if not pending.keeps(c)]
            results += await self._store(pending.arrival, kept, Priority.BULK)
            results += [ChangeResult(_sku(c), Stored.STALE) for c in superseded]
        log.info(
            "stored %d catalog changes from %s in %.0f ms",
            len(message.changes),
            incoming.topic,
            1000 * (time.perf_counter() - started),
        )
        return results

    async def _receipt(
        self, incoming: Incoming, parsed: ParsedMessage, results: list[ChangeResult]
    ) -> None:
        """Dead letters for the rejected changes, then the message's receipt."""
        status = f"omnishelf/{self.store}/catalog-status"
        for rejection in parsed.rejected:
            log.warning("catalog change rejected: %s", rejection.reason)
            await self.status.publish(
                f"{status}/dead-letter", rejection.dead_letter(incoming.topic), qos=1, retain=False
            )
        receipt: dict[str, Any] = {"topic": incoming.topic, "rejected": len(parsed.rejected)}
        for outcome in ("accepted", "duplicate", "stale"):
            receipt[outcome] = sum(1 for r in results if r.outcome == outcome)
        await self.status.publish(
            f"{status}/receipt", json.dumps(receipt).encode(), qos=1, retain=False
        )


def _sku(change: Upsert | Delete) -> str:
    return change.item.sku if isinstance(change, Upsert) else change.sku
