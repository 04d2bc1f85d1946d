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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from controller.catalog.items import SKU_PATTERN, CatalogItem

CATALOG_PREFIX = "omnishelf/{store}/catalog/"
MAX_BATCH = 50_000


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
        body = {
            "topic": topic,
            "index": self.index,
            "reason": self.reason,
            "original": self.original,
        }
        return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    changes: tuple[Upsert | Delete, ...]
    rejected: tuple[Rejection, ...]


def _problems(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in err['loc']) or '(item)'}: {err['msg']}"
        for err in exc.errors()
    )


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
    bad_version = not isinstance(version, int) or isinstance(version, bool) or version < 0
    if version is not None and bad_version:
        return Rejection(index, f"version: {version!r} is not a non-negative integer", original)
    return Delete(sku, version)


def _json(payload: bytes) -> tuple[Any, str | None]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return payload.hex(), f"payload: not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return text, f"payload: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"


def parse_batch(data: Any) -> ParsedMessage:
    """The changes of a batch (`{"batch_id": ..., "changes": [...]}`), each invalid one rejected."""
    if not isinstance(data, dict) or not isinstance(data.get("changes"), list):
        return ParsedMessage(
            (), (Rejection(None, "changes: a batch needs a 'changes' list", data),)
        )
    if len(data["changes"]) > MAX_BATCH:
        reason = f"changes: {len(data['changes'])} changes, at most {MAX_BATCH} per batch"
        return ParsedMessage((), (Rejection(None, reason, {"batch_id": data.get("batch_id")}),))
    changes: list[Upsert | Delete] = []
    rejected: list[Rejection] = []
    for index, change in enumerate(data["changes"]):
        op = change.get("op") if isinstance(change, dict) else None
        if op == "upsert":
            parsed: Upsert | Delete | Rejection = _item(change.get("item"), index)
            if isinstance(parsed, Rejection):
                parsed = Rejection(index, _prefixed(parsed.reason, "item."), change)
        elif op == "delete":
            parsed = _delete(change.get("sku"), change.get("version"), index, change)
        else:
            parsed = Rejection(index, f"op: {op!r} is neither 'upsert' nor 'delete'", change)
        if isinstance(parsed, Rejection):
            rejected.append(parsed)
        else:
            changes.append(parsed)
    return ParsedMessage(tuple(changes), tuple(rejected))


def _prefixed(reason: str, prefix: str) -> str:
    return "; ".join(prefix + part for part in reason.split("; "))


def parse_catalog_message(store: str, topic: str, payload: bytes) -> ParsedMessage:
    """The changes a catalog message carries, and a rejection for each invalid one."""
    prefix = CATALOG_PREFIX.format(store=store)
    if not topic.startswith(prefix):
        return ParsedMessage(
            (), (Rejection(None, f"topic: {topic!r} is not under {prefix}", None),)
        )
    kind, _, sku = topic[len(prefix) :].partition("/")
    data, problem = _json(payload) if payload or kind != "delete" else ({}, None)
    if problem is not None:
        return ParsedMessage((), (Rejection(None, problem, data),))
    single: Upsert | Delete | Rejection
    if kind == "item" and sku:
        single = _item(data, None, sku)
    elif kind == "delete" and sku:
        version = data.get("version") if isinstance(data, dict) else None
        single = _delete(sku, version, None, data)
    elif kind == "batch" and not sku:
        return parse_batch(data)
    else:
        single = Rejection(None, f"topic: unknown catalog topic {topic!r}", data)
    if isinstance(single, Rejection):
        return ParsedMessage((), (single,))
    return ParsedMessage((single,), ())
