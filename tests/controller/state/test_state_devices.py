"""The device registry and label↔item bindings in a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.state.database import open_database
from controller.state.devices_repo import (
    UnknownDevice,
    bind,
    binding_of,
    bindings_for_item,
    device,
    register_device,
    unbind,
)

T0 = datetime(2026, 11, 22, 9, tzinfo=UTC)


async def test_only_adopted_labels_receive_an_items_changes(tmp_path):
    """A bound but unadopted label is not among the labels an item change reaches."""
    async with open_database(tmp_path / "s.db") as db:
        await register_device(db, "lbl-1", model=0x0122, gateway_id="ap-01", adopted=True)
        await register_device(db, "lbl-2", model=0x0122, gateway_id="ap-01")
        for label in ("lbl-1", "lbl-2"):
            await bind(db, label, "TR-1", template=None, page=1, at=T0, actor="ayse")
        reached = await bindings_for_item(db, "TR-1")
    assert [b.device_id for b in reached] == ["lbl-1"]


async def test_a_later_birth_keeps_the_adoption(tmp_path):
    """Re-registering from a birth never un-adopts a device."""
    async with open_database(tmp_path / "s.db") as db:
        await register_device(db, "lbl-1", model=0x0122, gateway_id="ap-01", adopted=True)
        await register_device(db, "lbl-1", model=0x0122, gateway_id="ap-02")
        found = await device(db, "lbl-1")
    assert found is not None
    assert (found.adopted, found.gateway_id) == (True, "ap-02")


async def test_relinking_replaces_the_binding_and_unlink_removes_it(tmp_path):
    """A label shows one item: linking it again moves it; unlinking frees it."""
    async with open_database(tmp_path / "s.db") as db:
        await register_device(db, "lbl-1", model=0x0122, gateway_id="ap-01", adopted=True)
        await bind(db, "lbl-1", "TR-1", template=None, page=1, at=T0, actor="ayse")
        await bind(db, "lbl-1", "TR-2", template="promotion", page=2, at=T0, actor="mehmet")
        moved = await binding_of(db, "lbl-1")
        assert await bindings_for_item(db, "TR-1") == []
        assert await unbind(db, "lbl-1")
        assert not await unbind(db, "lbl-1")
        assert await binding_of(db, "lbl-1") is None
    assert moved is not None
    assert (moved.sku, moved.template, moved.page, moved.linked_by) == (
        "TR-2",
        "promotion",
        2,
        "mehmet",
    )


async def test_binding_an_unknown_device_is_refused(tmp_path):
    """A typo in a scanned label code does not create a phantom device."""
    async with open_database(tmp_path / "s.db") as db:
        with pytest.raises(UnknownDevice, match="lbl-404"):
            await bind(db, "lbl-404", "TR-1", template=None, page=1, at=T0, actor="ayse")
