"""Availability behind access points and the judging of reports, in a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.state.database import open_database
from controller.state.devices_repo import device
from controller.state.fleet_repo import BirthFacts, record_birth, record_death
from controller.state.labels_repo import (
    ISSUED_KEPT,
    Priority,
    due_pushes,
    label_state,
    plan_push,
    postpone_offline,
    record_report,
)
from controller.state.revisions_repo import MAX_REVISION, correct_label, report_facts
from firmware_protocol.models import ModelId

T0 = datetime(2026, 12, 4, 9, tzinfo=UTC)
AP = int(ModelId.ACCESS_POINT)
LABEL = int(ModelId.EPD213_BWR)


def _facts(gateway: str, session: int, model: int = LABEL) -> BirthFacts:
    return BirthFacts(gateway, model, session, "1.0.0", 3000, 4096, 2, 40)


async def _online(db, device_id: str) -> bool:  # type: ignore[no-untyped-def]
    found = await device(db, device_id)
    assert found is not None
    return found.online


async def test_an_access_points_death_takes_its_labels_offline_and_its_birth_brings_them_back(
    tmp_path,
):
    """Labels behind a dead access point are offline; its Birth brings back those still alive
    (not one that died on its own meanwhile) and makes their put-off pushes due."""
    later = T0 + timedelta(minutes=5)
    async with open_database(tmp_path / "s.db") as db:
        await record_birth(db, "ap-1", _facts("ap-1", 1, AP), T0, adopt=True)
        for label in ("l1", "l2"):
            await record_birth(db, label, _facts("ap-1", 1), T0, adopt=True)
            await plan_push(db, label, b"\x01" * 16, priority=Priority.BULK, reason="r", at=T0)
        assert await record_death(db, "ap-1", 1, T0)
        assert not await _online(db, "l1")
        assert not await _online(db, "l2")
        await postpone_offline(db, [("l1", 1, later), ("l2", 1, later)])
        assert await due_pushes(db, T0, limit=10) == []
        await record_death(db, "l2", 1, T0)  # the access point said l2 is out of range
        await record_birth(db, "ap-1", _facts("ap-1", 2, AP), T0, adopt=True)
        assert await _online(db, "l1")
        assert not await _online(db, "l2")
        assert [push.device_id for push in await due_pushes(db, T0, limit=10)] == ["l1"]


async def test_a_replayed_label_birth_after_its_access_points_death_stays_offline(tmp_path):
    """A label's Birth recorded while its access point is offline does not make it reachable."""
    async with open_database(tmp_path / "s.db") as db:
        await record_birth(db, "ap-1", _facts("ap-1", 3, AP), T0, adopt=True)
        await record_death(db, "ap-1", 3, T0)
        await record_birth(db, "l1", _facts("ap-1", 7), T0, adopt=True, replayed=True)
        assert not await _online(db, "l1")


async def test_a_change_of_kind_decides_adoption_again(tmp_path):
    """An adopted label born again as an access point keeps its adoption only if told to."""
    async with open_database(tmp_path / "s.db") as db:
        await record_birth(db, "l1", _facts("l1", 1), T0, adopt=True)
        again = await record_birth(
            db, "l1", _facts("l1", 2, AP), T0, adopt=False, reset_adoption=True
        )
        assert again is not None
        assert not again.adopted


async def test_reports_are_judged_against_the_images_issued(tmp_path):
    """Credible: an issued (revision, hash) or what the label said before; doubted: above the
    desired revision, a hash never sent for that revision, an issued range gap; unknowable:
    older than what is remembered."""
    async with open_database(tmp_path / "s.db") as db:
        hashes = [bytes([n]) * 16 for n in range(1, 21)]
        for content in hashes:
            await plan_push(db, "l1", content, priority=Priority.BULK, reason="r", at=T0)
        await record_report(db, "l1", 3, hashes[2], T0, authoritative=True)

        async def doubt(revision: int, content_hash: bytes) -> str | None:
            facts = (await report_facts(db, [("l1", revision)]))["l1"]
            assert facts.desired_revision == 20
            return facts.doubt(revision, content_hash)

        assert await doubt(20, hashes[19]) is None
        assert await doubt(19, hashes[18]) is None
        assert await doubt(3, hashes[2]) is None  # what it said before, no longer remembered
        assert await doubt(21, hashes[19]) is not None
        assert await doubt(19, hashes[19]) is not None
        assert await doubt(MAX_REVISION + 1, hashes[19]) is not None
        assert await doubt(20 - ISSUED_KEPT, b"\x77" * 16) is None  # forgotten: cannot tell
        await plan_push(db, "l2", hashes[0], priority=Priority.BULK, reason="r", at=T0)
        await plan_push(db, "l2", hashes[1], priority=Priority.BULK, reason="r", at=T0)
        await db.execute("DELETE FROM label_revisions WHERE device_id = 'l2' AND revision = 2")
        gap = (await report_facts(db, [("l2", 2)]))["l2"]
        assert gap.doubt(2, hashes[1]) is not None  # in the remembered range, never issued


async def test_a_correction_goes_above_the_claim_with_the_desired_content(tmp_path):
    """The corrective revision is above the claimed one, carries the desired hash, is due now,
    and what the label shows is unknown until it reports again."""
    async with open_database(tmp_path / "s.db") as db:
        await plan_push(
            db, "l1", b"\x05" * 16, priority=Priority.BULK, reason="r", at=T0, planes=b"\0" * 8
        )
        await record_report(db, "l1", 1, b"\x05" * 16, T0)
        assert await correct_label(db, "l1", 41, T0) == 42
        state = await label_state(db, "l1")
        assert state is not None
        assert (state.desired_revision, state.desired_hash) == (42, b"\x05" * 16)
        assert state.reported_hash is None
        assert [(p.device_id, p.revision) for p in await due_pushes(db, T0, 10)] == [("l1", 42)]
        assert await correct_label(db, "l1", MAX_REVISION, T0) is None


async def test_report_facts_of_a_batch_are_those_of_each_report_alone(tmp_path):
    """A burst of reports (several per label, revisions issued and not) is judged by the same
    facts in one read as report by report."""
    async with open_database(tmp_path / "s.db") as db:
        reports: list[tuple[str, int]] = []
        for n in range(30):
            device_id = f"l{n}"
            for revision in range(1, 2 + n % 5):
                content_hash = bytes([n, revision]) * 8
                await plan_push(
                    db, device_id, content_hash, priority=Priority.BULK, reason="r", at=T0
                )
            reports += [(device_id, r) for r in (1, 1 + n % 5, 3 + n % 5)]
        reports.append(("unknown", 1))
        together = await report_facts(db, reports)
        alone = {}
        for device_id, revision in reports:
            for found, facts in (await report_facts(db, [(device_id, revision)])).items():
                merged = alone.setdefault(found, facts)
                merged.issued.update(facts.issued)
    assert set(together) == {f"l{n}" for n in range(30)}
    assert together == alone
