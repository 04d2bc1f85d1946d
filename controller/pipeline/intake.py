"""HQ's catalog messages -> the durable catalog, without a store-wide batch holding up a price fix.

The catalog session hands over what has arrived, in arrival order, and acknowledges each message
(PUBACK, in arrival order) only after its handler returned: an acknowledged change is on disk.
Handlers of later messages may run while an earlier one is still storing (the link's
`concurrency`), so that:

- small messages (single changes, small batches) that arrived together are stored in one
  transaction;
- a large batch (a store-wide reprice: 16,000 changes, ~3 s to parse and store) is parsed off the
  event loop and stored in parts of `PART` changes, one transaction each, each part parsed just
  before it is stored and let go of once stored (a batch is never held whole as items: at 20,000
  items they are ~77 MB of Python objects). Between the parts, the
  changes that arrived after it are stored too, so a single price change published during the
  reprice is on its way in milliseconds instead of waiting for the whole batch. Its labels are
  queued by priority, so they also overtake the batch's in the render and push stages.

Arrival order still decides, as if every message had been stored one after another: a part of a
batch leaves out each change of an item that a later message has stored meanwhile, unless both
carry an HQ version and the batch's is the newer (versions alone order those). A crash midway
loses nothing: the batch was not acknowledged, the broker delivers it again, and the parts already
stored come back as duplicates.

Poison isolation: no single message can stop the intake. A message that cannot be parsed (any
exception of the parser, not only the rejections it reports) is dead-lettered and acknowledged;
a change that fails to store is found and quarantined (`ingest.apply_isolated`), dead-lettered,
and its neighbours are stored. A database that cannot be written (disk full) is not the
message's fault: that error propagates, nothing is acknowledged, and the broker redelivers the
message to the restarted controller.

Each receipt names the message it answers: the batch's `batch_id`, or the SKU and version of a
single item or delete, with the counts of its outcomes (docs/catalog.md, "Receipts").
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from controller.catalog.feed import (
    Delete,
    ParsedMessage,
    RawBatch,
    Rejection,
    Upsert,
    read_catalog_message,
)
from controller.catalog.payload import bounded, safe_json
from controller.link import Incoming, Publisher
from controller.pipeline.ingest import (
    POISON,
    ChangeResult,
    Quarantined,
    apply_isolated,
    changes_priority,
    is_poison,
)
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
            read = [await self._parse(incoming) for incoming in batch]
            large = {i: pending[i] for i, r in enumerate(read) if isinstance(r, RawBatch)}
            small = [(i, r) for i, r in enumerate(read) if isinstance(r, ParsedMessage)]
            stored = await self._store_together([(arrivals[i], parsed) for i, parsed in small])
            await asyncio.gather(
                *(
                    self._receipt(batch[i], parsed.subject, *_tally(parsed, out))
                    for (i, parsed), out in zip(small, stored, strict=True)
                )
            )
            for i, in_parts in large.items():
                raw = read[i]
                assert isinstance(raw, RawBatch)
                read[i] = ParsedMessage((), ())  # parsed and let go of part by part
                await self._store_in_parts(in_parts, batch[i], raw)
        finally:
            for registered in pending:
                self._large.remove(registered)

    async def _parse(self, incoming: Incoming) -> ParsedMessage | RawBatch:
        """The message's changes and rejections, or a batch of more than PART changes to parse
        part by part; never raises (a parser bug dead-letters the message instead of stopping
        the intake: it would come back at every start)."""
        try:
            if len(incoming.payload) > OFF_LOOP_BYTES:
                return await asyncio.to_thread(
                    read_catalog_message,
                    self.store,
                    incoming.topic,
                    incoming.payload,
                    parse_up_to=PART,
                )
            return read_catalog_message(
                self.store, incoming.topic, incoming.payload, parse_up_to=PART
            )
        except Exception as exc:  # any parser bug: logged with its traceback, dead-lettered
            log.exception("catalog message on %s could not be parsed", incoming.topic)
            return _unparsable(incoming, exc)

    async def _store_together(
        self, messages: list[tuple[int, ParsedMessage]]
    ) -> list[list[ChangeResult | Quarantined]]:
        """Small messages in one transaction; should a change fail to store, each message is
        stored again on its own, with that change quarantined."""
        try:
            async with transaction(self.conn):
                stored = [await self._store(m.changes) for _, m in messages]
        except POISON as exc:
            if not is_poison(exc):
                raise
            log.warning("a catalog change could not be stored (%s): isolating it", exc)
            return [await self._store_isolated(arrival, m.changes) for arrival, m in messages]
        for arrival, message in messages:  # after the commit: what later messages changed
            self._mark(arrival, message.changes)
        return [list[ChangeResult | Quarantined](results) for results in stored]

    async def _store(
        self, changes: Sequence[Upsert | Delete], priority: Priority | None = None
    ) -> list[ChangeResult]:
        if not changes:
            return []
        return await self.apply(list(changes), priority)

    async def _store_isolated(
        self,
        arrival: int,
        changes: Sequence[Upsert | Delete],
        priority: Priority | None = None,
    ) -> list[ChangeResult | Quarantined]:
        # The message's priority, even when its changes are stored one by one.
        fixed = priority if priority is not None else changes_priority(changes)

        async def store(part: list[Upsert | Delete]) -> list[ChangeResult]:
            results = await self._store(part, fixed)
            self._mark(arrival, part)  # committed: apply_changes is its own transaction here
            return results

        return await apply_isolated(store, changes)

    def _mark(self, arrival: int, changes: Sequence[Upsert | Delete]) -> None:
        """Tell each large batch that arrived before `arrival` which items were changed."""
        for pending in self._large:
            if pending.arrival < arrival:
                for change in changes:
                    if isinstance(change, Upsert):
                        pending.changed_later[change.item.sku] = change.item.version
                    else:
                        pending.changed_later[change.sku] = change.version

    async def _store_in_parts(
        self, pending: _LargeBatch, incoming: Incoming, batch: RawBatch
    ) -> None:
        """Each part parsed (off the event loop), stored, its dead letters sent, and let go of
        before the next; the receipt once the last part is stored."""
        started = time.perf_counter()
        counts: Counter[str] = Counter()
        for start in range(0, len(batch), PART):
            try:
                part = await asyncio.to_thread(batch.parse, start, start + PART)
            except Exception as exc:  # a parser bug: this part is dead-lettered, not the rest
                log.exception("a part of the batch on %s could not be parsed", incoming.topic)
                part = _unparsable(incoming, exc)
            kept = [c for c in part.changes if pending.keeps(c)]
            results = await self._store_isolated(pending.arrival, kept, Priority.BULK)
            counts[Stored.STALE] += len(part.changes) - len(kept)
            letters, tally = _tally(_kept_only(part, kept), results)
            counts.update(tally)
            await self._dead_letters(incoming, letters)
        log.info(
            "stored %d catalog changes from %s in %.0f ms",
            len(batch),
            incoming.topic,
            1000 * (time.perf_counter() - started),
        )
        await self._receipt(incoming, batch.subject, [], counts)

    async def _dead_letters(self, incoming: Incoming, letters: Sequence[Rejection]) -> None:
        for rejection in letters:
            log.warning("catalog change rejected: %s", bounded(rejection.reason, 400))
            await self.status.publish(
                f"omnishelf/{self.store}/catalog-status/dead-letter",
                rejection.dead_letter(incoming.topic),
                qos=1,
                retain=False,
            )

    async def _receipt(
        self,
        incoming: Incoming,
        subject: dict[str, Any],
        letters: Sequence[Rejection],
        counts: Counter[str],
    ) -> None:
        """Dead letters for the rejected and quarantined changes, then the message's receipt."""
        await self._dead_letters(incoming, letters)
        receipt: dict[str, Any] = {"topic": incoming.topic, **subject}
        for kind in (Stored.ACCEPTED, Stored.DUPLICATE, Stored.STALE):
            receipt[kind.value] = counts[kind]
        receipt["rejected"] = counts["rejected"]
        await self.status.publish(
            f"omnishelf/{self.store}/catalog-status/receipt",
            safe_json(receipt).encode(),
            qos=1,
            retain=False,
        )


def _unparsable(incoming: Incoming, exc: Exception) -> ParsedMessage:
    reason = f"payload: could not be parsed ({type(exc).__name__})"
    return ParsedMessage((), (Rejection(None, reason, bounded(incoming.payload)),))


def _kept_only(parsed: ParsedMessage, kept: list[Upsert | Delete]) -> ParsedMessage:
    """The part with only the changes that were stored, each with its position."""
    if len(kept) == len(parsed.changes):
        return parsed
    ids = {id(c) for c in kept}
    pairs = [(c, parsed.position(n)) for n, c in enumerate(parsed.changes) if id(c) in ids]
    return ParsedMessage(
        tuple(c for c, _ in pairs), parsed.rejected, parsed.subject, tuple(p for _, p in pairs)
    )


def _tally(
    parsed: ParsedMessage, outcomes: Sequence[ChangeResult | Quarantined]
) -> tuple[list[Rejection], Counter[str]]:
    """A message's (or part's) dead letters, its rejections then its quarantined changes, and
    the counts of its outcomes; `outcomes` are the results of `parsed.changes`, in order."""
    letters = list(parsed.rejected)
    counts: Counter[str] = Counter()
    for number, outcome in enumerate(outcomes):
        if isinstance(outcome, Quarantined):
            change = parsed.changes[number] if number < len(parsed.changes) else None
            letters.append(Rejection(parsed.position(number), outcome.reason, _original(change)))
        else:
            counts[outcome.outcome] += 1
    counts["rejected"] = len(letters)
    return letters, counts


def _original(change: Upsert | Delete | None) -> Any:
    """A stored-but-quarantined change as HQ would have sent it, for its dead letter."""
    if isinstance(change, Upsert):
        return {"op": "upsert", "item": change.item.model_dump(mode="json")}
    if isinstance(change, Delete):
        return {"op": "delete", "sku": change.sku, "version": change.version}
    return None
