"""Catalog change messages from HQ over MQTT: parsing, with a reason for every rejection.

Topics (under `omnishelf/{store}/catalog/`, writable only by the `hq` user, see deploy/):
- `item/{sku}`: one catalog item (docs/catalog.md); the SKU in the topic must match the body;
- `delete/{sku}`: `{"version": n}` or an empty payload;
- `batch`: `{"batch_id": "...", "changes": [{"op": "upsert", "item": {...}},
  {"op": "delete", "sku": "...", "version": n}, ...]}`.

An invalid change never blocks the valid ones of the same batch: each is parsed on its own, and
each rejection carries its index, a precise reason (the dotted field path and what is wrong) and
the original payload, which the controller publishes as a dead letter on
`omnishelf/{store}/catalog-status/dead-letter`.

Before any parsing, a payload's size (per topic kind, `MAX_BYTES`) and nesting depth are checked
(catalog/payload.py): a payload refused there is rejected as a whole. Nothing here raises on any
input; a dead letter always encodes and quotes at most a few kilobytes of the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controller.catalog.items import MAX_VERSION, SKU_PATTERN, CatalogItem
from controller.catalog.payload import PayloadError, bounded, load_json, safe_json, safe_text

CATALOG_PREFIX = "omnishelf/{store}/catalog/"
MAX_BATCH = 50_000
# bytes of a message per topic kind: an item with 1,000 price points is ~100 KB; a batch of
# 50,000 changes fits the broker's packet limit
MAX_BYTES = {"item": 256 * 1024, "delete": 1024, "batch": 32 * 1024 * 1024}
MAX_BATCH_ID = 128  # characters of a batch id quoted back in its receipt


@dataclass(frozen=True, slots=True)
class Upsert:
    item: CatalogItem


@dataclass(frozen=True, slots=True)
class Delete:
    sku: str
    version: int | None


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int | None  # the position in a batch; None for a single-change message
    reason: str
    original: Any  # the change as received (parsed JSON where it parsed, else the text)

    def dead_letter(self, topic: str) -> bytes:
        """The dead letter: always encodable (lone surrogates escaped), the original cut to a
        few kilobytes with a marker."""
        body = {
            "topic": safe_text(topic),
            "index": self.index,
            "reason": safe_text(self.reason),
            "original": bounded(self.original),
        }
        return safe_json(body).encode()


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    changes: tuple[Upsert | Delete, ...]
    rejected: tuple[Rejection, ...]
    # which message this is, for its receipt: {"batch_id": ...} or {"sku": ..., "version": ...}
    subject: dict[str, Any] = field(default_factory=dict)
    positions: tuple[int | None, ...] = ()  # each change's index in its batch (None: single)

    def position(self, change_number: int) -> int | None:
        return self.positions[change_number] if change_number < len(self.positions) else None


def _problems(exc: ValidationError, prefix: str = "") -> str:
    # safe_text: a location can be an unknown key, which can hold anything (a lone surrogate)
    return "; ".join(
        safe_text(f"{prefix}{'.'.join(str(p) for p in err['loc']) or '(item)'}: {err['msg']}", 400)
        for err in exc.errors()
    )


def valid_version(version: Any) -> bool:
    """An HQ version: an integer (not a boolean) from 0 to 2^63 - 1."""
    return (
        isinstance(version, int) and not isinstance(version, bool) and 0 <= version <= MAX_VERSION
    )


def version_problem(version: Any) -> str:
    return f"version: {bounded(version, 40)!r} is not an integer from 0 to {MAX_VERSION}"


def _item(data: Any, index: int | None, sku: str | None = None) -> Upsert | Rejection:
    try:
        item = CatalogItem.model_validate(data)
    except ValidationError as exc:
        return Rejection(index, _problems(exc), data)
    if sku is not None and item.sku != sku:
        return Rejection(index, f"sku: the body says {item.sku!r}, the topic {sku!r}", data)
    return Upsert(item)


def _delete(sku: Any, version: Any, index: int | None, original: Any) -> Delete | Rejection:
    if not isinstance(sku, str) or not re.fullmatch(SKU_PATTERN, sku):
        return Rejection(index, f"sku: {sku!r} is not a valid SKU", original)
    if version is not None and not valid_version(version):
        return Rejection(index, version_problem(version), original)
    return Delete(sku, version)


def batch_id_of(data: Any) -> str | int | None:
    """The batch's id as its receipt quotes it: a string (cut to MAX_BATCH_ID characters) or an
    integer; None when there is none."""
    batch_id = data.get("batch_id") if isinstance(data, dict) else None
    if isinstance(batch_id, str):
        return safe_text(batch_id, MAX_BATCH_ID)
    return batch_id if valid_version(batch_id) else None


@dataclass(slots=True)
class RawBatch:
    """A batch whose changes are still JSON, to be parsed part by part (`parse`), so that a
    store-wide batch is never held whole as items: each part can be stored and let go of
    before the next is parsed."""

    subject: dict[str, Any]
    raw: list[Any]

    def __len__(self) -> int:
        return len(self.raw)

    def parse(self, start: int, stop: int) -> ParsedMessage:
        """The changes raw[start:stop], each invalid one rejected; consumes them (each raw
        change is dropped once parsed; a rejected one lives on in its Rejection)."""
        changes: list[Upsert | Delete] = []
        positions: list[int | None] = []
        rejected: list[Rejection] = []
        for index in range(start, min(stop, len(self.raw))):
            change, self.raw[index] = self.raw[index], None
            parsed = _change(change, index)
            if isinstance(parsed, Rejection):
                rejected.append(parsed)
            else:
                changes.append(parsed)
                positions.append(index)
        return ParsedMessage(tuple(changes), tuple(rejected), self.subject, tuple(positions))


def _change(change: Any, index: int) -> Upsert | Delete | Rejection:
    op = change.get("op") if isinstance(change, dict) else None
    if op == "upsert":
        parsed = _item(change.get("item"), index)
        if isinstance(parsed, Rejection):
            return Rejection(index, _prefixed(parsed.reason, "item."), change)
        return parsed
    if op == "delete":
        return _delete(change.get("sku"), change.get("version"), index, change)
    return Rejection(index, f"op: {op!r} is neither 'upsert' nor 'delete'", change)


def read_batch(data: Any) -> RawBatch | ParsedMessage:
    """A batch (`{"batch_id": ..., "changes": [...]}`) with its changes unparsed, or the
    message's rejection as a whole (no 'changes' list, too many changes)."""
    subject = {"batch_id": batch_id_of(data)}
    if not isinstance(data, dict) or not isinstance(data.get("changes"), list):
        rejection = Rejection(None, "changes: a batch needs a 'changes' list", data)
        return ParsedMessage((), (rejection,), subject)
    if len(data["changes"]) > MAX_BATCH:
        reason = f"changes: {len(data['changes'])} changes, at most {MAX_BATCH} per batch"
        return ParsedMessage((), (Rejection(None, reason, subject),), subject)
    return RawBatch(subject, data["changes"])


def parse_batch(data: Any) -> ParsedMessage:
    """The changes of a batch, each invalid one rejected.

    Consumes `data["changes"]` (RawBatch.parse): a store-wide batch is never held twice, as
    JSON objects and as items (20,000 items: a peak of 126 MB of Python objects, 77 MB of them
    the items)."""
    batch = read_batch(data)
    return batch.parse(0, len(batch)) if isinstance(batch, RawBatch) else batch


def _prefixed(reason: str, prefix: str) -> str:
    return "; ".join(prefix + part for part in reason.split("; "))


def parse_catalog_message(store: str, topic: str, payload: bytes) -> ParsedMessage:
    """The changes a catalog message carries, and a rejection for each invalid one."""
    message = read_catalog_message(store, topic, payload)
    return message.parse(0, len(message)) if isinstance(message, RawBatch) else message


def read_catalog_message(
    store: str, topic: str, payload: bytes, *, parse_up_to: int = 0
) -> ParsedMessage | RawBatch:
    """As parse_catalog_message, but a batch of more than `parse_up_to` changes is returned
    unparsed, to be parsed part by part."""
    prefix = CATALOG_PREFIX.format(store=store)
    if not topic.startswith(prefix):
        return ParsedMessage(
            (), (Rejection(None, f"topic: {topic!r} is not under {prefix}", None),)
        )
    kind, _, sku = topic[len(prefix) :].partition("/")
    subject: dict[str, Any] = (
        {"batch_id": None} if kind == "batch" else {"sku": safe_text(sku, 128) or None}
    )
    known = (kind == "batch" and not sku) or (kind in ("item", "delete") and sku)
    if not known:
        rejection = Rejection(None, f"topic: unknown catalog topic {safe_text(topic)!r}", None)
        return ParsedMessage((), (rejection,), subject)
    try:
        data = load_json(payload, max_bytes=MAX_BYTES[kind]) if payload or kind != "delete" else {}
    except PayloadError as exc:
        return ParsedMessage((), (Rejection(None, exc.reason, exc.original),), subject)
    if kind == "batch":
        batch = read_batch(data)
        if isinstance(batch, RawBatch) and len(batch) <= parse_up_to:
            return batch.parse(0, len(batch))
        return batch
    version = data.get("version") if isinstance(data, dict) else None
    subject["version"] = version if valid_version(version) else None
    single: Upsert | Delete | Rejection
    single = _item(data, None, sku) if kind == "item" else _delete(sku, version, None, data)
    if isinstance(single, Rejection):
        return ParsedMessage((), (single,), subject)
    return ParsedMessage((single,), (), subject, (None,))
