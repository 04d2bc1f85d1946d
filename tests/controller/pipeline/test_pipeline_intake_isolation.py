"""The catalog intake over a real SQLite database: a message the parser chokes on is dead-lettered
and acknowledged, a change that fails to store is quarantined beside its stored neighbours, a
database that cannot be written is not acknowledged, and every receipt names its message."""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from controller.catalog.feed import Delete, Upsert
from controller.catalog.items import CatalogItem
from controller.link import Incoming
from controller.pipeline import intake as intake_module
from controller.pipeline.ingest import ChangeResult, apply_changes
from controller.pipeline.intake import PART, CatalogIntake
from controller.state.catalog_repo import get_item
from controller.state.database import open_database
from controller.state.labels_repo import Priority

STORE = "s1"
PREFIX = f"omnishelf/{STORE}/catalog/"
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Sent:
    """What the intake published (the MQTT session's place): dead letters and receipts."""

    messages: list[tuple[str, Any]] = field(default_factory=list)

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        self.messages.append((topic, json.loads(payload.decode("utf-8"))))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [body for topic, body in self.messages if topic.endswith(f"/{kind}")]


def _item(sku: str, price: str = "5.00", **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": f"Ürün {sku}", "currency": "TRY", "price": price} | extra


def _message(topic: str, body: Any) -> Incoming:
    return Incoming(PREFIX + topic, json.dumps(body).encode(), 1, False)


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    async with open_database(tmp_path / "state.db") as opened:
        yield opened


def _intake(conn: aiosqlite.Connection, sent: Sent, fail_on: str | None = None) -> CatalogIntake:
    """An intake storing through the real ingest; `fail_on`: a SKU whose storing raises like a
    value SQLite cannot take (OverflowError), as a change past the parser's bounds would."""

    async def apply(
        changes: list[Upsert | Delete], priority: Priority | None
    ) -> list[ChangeResult]:
        skus = {c.item.sku if isinstance(c, Upsert) else c.sku for c in changes}
        if fail_on in skus:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return await apply_changes(conn, changes, actor="hq", at=AT, priority=priority)

    return CatalogIntake(STORE, conn, apply, sent)


async def test_a_message_the_parser_fails_on_is_dead_lettered_and_acknowledged(
    conn: aiosqlite.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception of the parser on one message (a bug) dead-letters that message;
    the handler returns (so the message is acknowledged) and the next message is stored."""
    real = intake_module.read_catalog_message

    def parse(store: str, topic: str, payload: bytes, *, parse_up_to: int) -> Any:
        if topic.endswith("/BUG"):
            raise RecursionError("maximum recursion depth exceeded")
        return real(store, topic, payload, parse_up_to=parse_up_to)

    monkeypatch.setattr(intake_module, "read_catalog_message", parse)
    sent = Sent()
    await _intake(conn, sent).on_messages(
        [_message("item/BUG", _item("BUG")), _message("item/OK", _item("OK"))]
    )
    [letter] = sent.of("dead-letter")
    assert letter["reason"] == "payload: could not be parsed (RecursionError)"
    assert letter["topic"] == PREFIX + "item/BUG"
    assert await get_item(conn, "OK") is not None
    assert [r["rejected"] for r in sent.of("receipt")] == [1, 0]


async def test_a_change_that_fails_to_store_is_quarantined_and_its_neighbours_stored(
    conn: aiosqlite.Connection,
) -> None:
    """A batch change whose storing fails is dead-lettered with its index and reason; the other
    changes of the batch and the message beside it are stored."""
    sent = Sent()
    changes = [{"op": "upsert", "item": _item(f"B-{n}")} for n in range(6)]
    changes[4] = {"op": "upsert", "item": _item("POISON")}
    await _intake(conn, sent, fail_on="POISON").on_messages(
        [
            _message("batch", {"batch_id": "b-9", "changes": changes}),
            _message("item/SOLO", _item("SOLO")),
        ]
    )
    [letter] = sent.of("dead-letter")
    assert letter["index"] == 4
    assert letter["reason"].startswith("could not be stored: OverflowError")
    assert letter["original"]["item"]["sku"] == "POISON"
    for sku in ("B-0", "B-1", "B-2", "B-3", "B-5", "SOLO"):
        assert await get_item(conn, sku) is not None, sku
    assert await get_item(conn, "POISON") is None
    batch = next(r for r in sent.of("receipt") if r.get("batch_id") == "b-9")
    assert (batch["accepted"], batch["rejected"]) == (5, 1)


async def test_a_large_batch_is_parsed_part_by_part_and_its_letters_name_their_index(
    conn: aiosqlite.Connection,
) -> None:
    """A batch of 3 parts is never held whole as items: when a part is stored, the items of the
    parts before it are gone and those after it not parsed yet. A rejection and a quarantined
    change in different parts are dead-lettered with their index; the receipt counts all."""
    size = 3 * PART
    changes = [{"op": "upsert", "item": _item(f"PARTED-{n:05d}")} for n in range(size)]
    changes[PART + 7] = {"op": "upsert", "item": {"sku": "BAD"}}  # no price: rejected
    changes[2 * PART + 3] = {"op": "upsert", "item": _item("POISON")}
    alive: list[int] = []
    real = _intake(conn, Sent(), fail_on="POISON").apply

    async def counting(changes: list[Upsert | Delete], priority: Priority | None) -> Any:
        # Only this batch's items: other tests' items may still wait for the collector.
        alive.append(
            sum(
                1
                for o in gc.get_objects()
                if isinstance(o, CatalogItem) and o.sku.startswith("PARTED-")
            )
        )
        return await real(changes, priority)

    sent = Sent()
    intake = CatalogIntake(STORE, conn, counting, sent)
    await intake.on_messages([_message("batch", {"batch_id": "reprice", "changes": changes})])
    assert max(alive) <= PART, alive
    letters = {letter["index"]: letter["reason"] for letter in sent.of("dead-letter")}
    assert set(letters) == {PART + 7, 2 * PART + 3}, letters
    assert "item.price: Field required" in letters[PART + 7]
    assert letters[2 * PART + 3].startswith("could not be stored: OverflowError")
    [receipt] = sent.of("receipt")
    assert receipt["batch_id"] == "reprice"
    assert (receipt["accepted"], receipt["rejected"]) == (size - 2, 2)
    assert await get_item(conn, f"PARTED-{size - 1:05d}") is not None


@pytest.mark.parametrize(
    "error",
    [sqlite3.OperationalError("database or disk is full"), ValueError("no active connection")],
)
async def test_a_database_that_cannot_be_written_is_not_acknowledged(
    conn: aiosqlite.Connection, error: Exception
) -> None:
    """A full disk, or a closed connection, is no fault of the message: the error propagates
    from the handler (no PUBACK: the broker redelivers), nothing is dead-lettered and no
    receipt claims anything was stored."""
    sent = Sent()

    async def broken(changes: list[Upsert | Delete], priority: Priority | None) -> Any:
        raise error

    intake = CatalogIntake(STORE, conn, broken, sent)
    with pytest.raises(type(error)):
        await intake.on_messages(
            [
                _message("item/A", _item("A")),
                _message("batch", {"changes": [{"op": "upsert", "item": _item("B")}]}),
            ]
        )
    assert sent.messages == []


async def test_finding_10_each_receipt_names_the_message_it_answers(
    conn: aiosqlite.Connection,
) -> None:
    """A batch's receipt carries its batch_id, an item's its SKU and version, a delete's its SKU
    and version, beside the topic and the counts (kept for compatibility)."""
    sent = Sent()
    await _intake(conn, sent).on_messages(
        [
            _message("batch", {"batch_id": "reprice-42", "changes": []}),
            _message("item/TR-1", _item("TR-1", version=7)),
            _message("delete/TR-1", {"version": 8}),
            _message("item/TR-2", _item("TR-2", price="-1", version=3)),
        ]
    )
    receipts = sent.of("receipt")
    counts = {"accepted", "duplicate", "stale", "rejected", "topic"}
    assert all(counts <= set(r) for r in receipts)
    batch, item, delete, rejected = receipts
    assert batch["batch_id"] == "reprice-42"
    assert (item["sku"], item["version"], item["accepted"]) == ("TR-1", 7, 1)
    assert (delete["sku"], delete["version"], delete["accepted"]) == ("TR-1", 8, 1)
    assert (rejected["sku"], rejected["version"], rejected["rejected"]) == ("TR-2", 3, 1)
