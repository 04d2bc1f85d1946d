"""Durable catalog state in a real SQLite file: versions, applied prices, audit, migrations."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from controller.catalog.items import CatalogItem
from controller.catalog.pricing import AppliedPrice
from controller.state.audit_repo import append_audit, audit_entries
from controller.state.catalog_repo import (
    Stored,
    applied_prices,
    delete_item,
    get_item,
    record_applied_price,
    store_item,
)
from controller.state.database import SchemaTooNew, open_database, transaction
from controller.state.schema import SCHEMA_VERSION

T0 = datetime(2026, 11, 22, 9, tzinfo=UTC)


def item(version: int | None, price: str = "10.00") -> CatalogItem:
    return CatalogItem.model_validate(
        {"sku": "TR-1", "version": version, "name": "Çay", "currency": "TRY", "price": price}
    )


async def test_versions_only_move_forward(tmp_path):
    """A newer version replaces; the same version is a duplicate; an older one is stale."""
    async with open_database(tmp_path / "state.db") as db:
        assert await store_item(db, item(2, "10.00"), T0) is Stored.ACCEPTED
        assert await store_item(db, item(2, "10.00"), T0) is Stored.DUPLICATE
        assert await store_item(db, item(1, "99.00"), T0) is Stored.STALE
        assert await store_item(db, item(3, "12.00"), T0) is Stored.ACCEPTED
        stored = await get_item(db, "TR-1")
    assert stored is not None
    assert (stored.version, stored.price) == (3, Decimal("12.00"))


async def test_item_survives_reopening(tmp_path):
    """What store_item returned ACCEPTED for is on disk when the database is opened again."""
    path = tmp_path / "state.db"
    async with open_database(path) as db:
        await store_item(db, item(5, "7.50"), T0)
    async with open_database(path) as db:
        stored = await get_item(db, "TR-1")
    assert stored is not None
    assert stored.price == Decimal("7.50")


async def test_delete_hides_item_and_respects_versions(tmp_path):
    """A deletion hides the item; an older deletion is stale; a newer upsert brings it back."""
    async with open_database(tmp_path / "state.db") as db:
        await store_item(db, item(4), T0)
        assert await delete_item(db, "TR-1", 3, T0) is Stored.STALE
        assert await delete_item(db, "TR-1", 5, T0) is Stored.ACCEPTED
        assert await get_item(db, "TR-1") is None
        assert await store_item(db, item(4), T0) is Stored.STALE
        assert await store_item(db, item(6), T0) is Stored.ACCEPTED
        assert await get_item(db, "TR-1") is not None
        assert await delete_item(db, "NOPE", None, T0) is Stored.DUPLICATE


async def test_applied_prices_form_intervals(tmp_path):
    """Recording a new price closes the open interval; the same price again records nothing."""
    async with open_database(tmp_path / "state.db") as db:
        assert await record_applied_price(db, "TR-1", Decimal("10.00"), "TRY", T0)
        later = T0 + timedelta(days=3)
        assert not await record_applied_price(db, "TR-1", Decimal("10.0"), "TRY", later)
        assert await record_applied_price(db, "TR-1", Decimal("8.00"), "TRY", later)
        history = await applied_prices(db, "TR-1")
    assert history == [
        AppliedPrice(Decimal("10.00"), T0, later),
        AppliedPrice(Decimal("8.00"), later, None),
    ]


async def test_audit_log_newest_first_and_rolled_back_with_its_change(tmp_path):
    """Entries come back newest first; an entry in a failed transaction is not kept."""
    async with open_database(tmp_path / "state.db") as db:
        await append_audit(db, at=T0, actor="hq", action="item.upsert", target="item:TR-1")
        await append_audit(
            db, at=T0, actor="ayse", action="label.link", target="label:l1", detail={"sku": "TR-1"}
        )
        with pytest.raises(RuntimeError):  # noqa: PT012 (the raise is what is tested)
            async with transaction(db):
                await append_audit(db, at=T0, actor="x", action="y", target="item:TR-1")
                raise RuntimeError("the change failed")
        entries = await audit_entries(db)
        only_item = await audit_entries(db, target="item:TR-1")
    assert [e.action for e in entries] == ["label.link", "item.upsert"]
    assert entries[0].detail == {"sku": "TR-1"}
    assert [e.actor for e in only_item] == ["hq"]


async def test_database_is_wal_and_migrated(tmp_path):
    """A new database is in WAL mode at the current schema version."""
    path = tmp_path / "state.db"
    async with open_database(path):
        pass
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_newer_schema_is_refused(tmp_path):
    """A database written by a newer controller is not opened."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew, match="newer"):
        async with open_database(path):
            pass
