"""A batch of device facts as one unit (state/device_facts.py): births in bulk, the session rules
of PROTOCOL.md §4.6, adoption, availability behind access points and labels' catch-up."""

from __future__ import annotations

from datetime import UTC, datetime

from controller.state.database import open_database
from controller.state.device_facts import (
    Born,
    DeviceFact,
    Died,
    FactsOutcome,
    Measured,
    Seen,
    record_device_facts,
)
from controller.state.devices_repo import bind, device
from controller.state.fleet_repo import BirthFacts
from controller.state.labels_repo import Priority, label_state, plan_push, record_report
from controller.state.render_queue import take
from controller.state.units import run_unit
from firmware_protocol.models import ModelId

T0 = datetime(2026, 12, 4, 9, tzinfo=UTC)
AP = int(ModelId.ACCESS_POINT)
LABEL = int(ModelId.EPD213_BWR)
SHOWN = bytes(32)


def _born(
    device_id: str,
    session: int,
    *,
    gateway: str | None = None,
    model: int = LABEL,
    adopt: bool = True,
    replayed: bool = False,
    revision: int = 0,
    shown: bytes = SHOWN,
) -> Born:
    facts = BirthFacts(gateway or device_id, model, session, "1.0.0", 3000, 4096, 1, 40)
    return Born(device_id, facts, replayed, adopt, revision, shown)


async def _record(db, facts: list[DeviceFact]) -> FactsOutcome:  # type: ignore[no-untyped-def]
    return await run_unit(db, record_device_facts, facts, T0)


async def test_a_batch_of_births_registers_every_device_in_one_unit(tmp_path):
    """Every Birth of the batch is registered, adopted as asked, online in its session."""
    async with open_database(tmp_path / "s.db") as db:
        births: list[DeviceFact] = [_born(f"l{i}", 1, adopt=i % 2 == 0) for i in range(600)]
        outcome = await _record(db, births)
        assert [r.index for r in outcome.registered] == list(range(600))
        assert [r.adopted for r in outcome.registered] == [i % 2 == 0 for i in range(600)]
        found = await device(db, "l599")
        assert found is not None
        assert found.online
        assert found.session == 1
        assert not found.adopted


async def test_a_replayed_birth_older_than_the_stored_session_is_ignored(tmp_path):
    """A retained Birth of an older session does not count; a live one always does."""
    async with open_database(tmp_path / "s.db") as db:
        await _record(db, [_born("l1", 5, gateway="ap-2")])
        outcome = await _record(db, [_born("l1", 3, gateway="ap-1", replayed=True)])
        assert outcome.registered == ()
        found = await device(db, "l1")
        assert found is not None
        assert found.gateway_id == "ap-2"
        assert found.session == 5
        outcome = await _record(db, [_born("l1", 2, gateway="ap-1")])
        assert outcome.registered[0].previous_gateway == "ap-2"
        found = await device(db, "l1")
        assert found is not None
        assert found.gateway_id == "ap-1"
        assert found.session == 2


async def test_two_births_of_one_device_in_a_batch_keep_their_order(tmp_path):
    """The second Birth of a device sees the first: it is compared with its session."""
    async with open_database(tmp_path / "s.db") as db:
        outcome = await _record(
            db,
            [_born("l1", 4, gateway="ap-2"), _born("l1", 3, gateway="ap-1", replayed=True)],
        )
        assert [r.index for r in outcome.registered] == [0]
        found = await device(db, "l1")
        assert found is not None
        assert found.session == 4
        assert found.gateway_id == "ap-2"


async def test_a_device_that_changes_kind_is_adopted_anew(tmp_path):
    """An adopted label born as an access point keeps no adoption the allowlist did not give."""
    async with open_database(tmp_path / "s.db") as db:
        await _record(db, [_born("d1", 1, adopt=True)])
        outcome = await _record(db, [_born("d1", 2, model=AP, adopt=False)])
        (done,) = outcome.registered
        assert done.changed_kind
        assert not done.adopted
        assert done.previous_model == LABEL
        found = await device(db, "d1")
        assert found is not None
        assert not found.adopted
        again = await _record(db, [_born("d1", 3, model=AP, adopt=False)])
        assert not again.registered[0].changed_kind


async def test_an_access_points_death_and_birth_in_batches(tmp_path):
    """Labels behind a dead access point are offline; its Birth in a later batch brings back
    those still alive; a label born behind it while it is dead is not reachable."""
    async with open_database(tmp_path / "s.db") as db:
        await _record(db, [_born("ap-1", 1, model=AP), _born("l1", 1, gateway="ap-1")])
        await _record(db, [Died("ap-1", 1), _born("l2", 1, gateway="ap-1")])
        for label in ("l1", "l2"):
            found = await device(db, label)
            assert found is not None
            assert not found.online
        await _record(db, [_born("ap-1", 2, model=AP)])
        for label in ("l1", "l2"):
            found = await device(db, label)
            assert found is not None
            assert found.online


async def test_telemetry_and_other_messages_of_unknown_devices_are_returned(tmp_path):
    """Facts from devices not registered are named (the controller asks them for a Birth)."""
    async with open_database(tmp_path / "s.db") as db:
        outcome = await _record(
            db,
            [Measured("x1", 2900, -70), _born("l1", 1), Measured("l1", 2800, -60), Seen("x2")],
        )
        assert outcome.unknown == (0, 3)
        found = await device(db, "l1")
        assert found is not None
        assert found.battery_mv == 2800
        assert found.rssi == -60


async def test_a_linked_labels_birth_records_what_it_shows_and_catches_it_up(tmp_path):
    """A linked label without an image is queued for rendering; one showing another image than
    its desired one (it lost the image it confirmed) gets its push again; one claiming a
    revision never issued is doubted (not recorded)."""
    async with open_database(tmp_path / "s.db") as db:
        await _record(db, [_born(name, 1) for name in ("new", "stale", "liar")])
        for name in ("new", "stale", "liar"):
            await bind(db, name, "sku-1", template=None, page=1, at=T0, actor="t")
        for name in ("stale", "liar"):
            await plan_push(
                db, name, b"\x01" * 32, priority=Priority.BULK, reason="t", at=T0, planes=b"p"
            )
        await record_report(db, "stale", 1, b"\x01" * 32, T0)  # settled: no push queued
        async with db.execute("SELECT COUNT(*) FROM outbox WHERE device_id = 'stale'") as cursor:
            assert (await cursor.fetchone())[0] == 0
        outcome = await _record(
            db,
            [_born("new", 2), _born("stale", 2), _born("liar", 2, revision=99, shown=b"\x02" * 32)],
        )
        by_id = {r.device_id: r for r in outcome.registered}
        assert by_id["new"].caught_up
        assert by_id["new"].doubted is None
        assert by_id["stale"].caught_up
        assert by_id["stale"].doubted is None
        assert by_id["liar"].doubted is not None
        assert not by_id["liar"].caught_up
        assert [q.device_id for q in await take(db, 10)] == ["new"]
        async with db.execute("SELECT device_id FROM outbox ORDER BY device_id") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["liar", "stale"]
        liar = await label_state(db, "liar")
        assert liar is not None
        assert liar.reported_revision == 0
