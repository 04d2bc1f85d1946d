"""Labels' reports are judged before they count, over the real Mosquitto (issue 12, finding 7;
PROTOCOL.md §4.7): a lie raises a problem and a corrective push, and never a push storm."""

from __future__ import annotations

from datetime import UTC, datetime

from controller.pipeline.push_stage import PUSH_PROBLEM
from controller.report_check import UNTRUSTED_PROBLEM
from controller.state.devices_repo import device
from controller.state.fleet_repo import set_problem
from controller.state.labels_repo import label_state, unconfirmed_labels
from device_sim.gateway import Gateway, Outgoing
from firmware_protocol.messages import Reported, ReportResult
from tests.support.store_kit import Store, item, label_id, store_with_labels


async def _shown(rig: Store, label: str) -> tuple[int, bytes]:
    """The label linked and showing its image: (desired revision, desired hash)."""
    await rig.publish_item(item("TR-7", "7.00"))

    async def stored() -> bool:
        async with rig.ctl.conn.execute("SELECT 1 FROM items WHERE sku = 'TR-7'") as cursor:
            return await cursor.fetchone() is not None

    await rig.wait_until(stored, what="TR-7 stored")
    await rig.ctl.operations.link(label, "TR-7", actor="test")
    await rig.converged([label])
    state = await label_state(rig.ctl.conn, label)
    assert state is not None
    assert state.desired_hash is not None
    return state.desired_revision, state.desired_hash


def _lie(rig: Store, label: str, revision: int, content_hash: bytes) -> None:
    """The label's own gateway publishes a report the label did not make."""
    report = Reported(revision, content_hash, 0, ReportResult.APPLIED)

    def say(_: Gateway, __: float) -> list[Outgoing]:
        return [Outgoing(label, report)]

    rig.sim.act(label, say)


async def _corrected_above(rig: Store, label: str, claimed: int) -> None:
    async def corrected() -> bool:
        state = await label_state(rig.ctl.conn, label)
        return state is not None and state.desired_revision > claimed and state.confirmed

    await rig.wait_until(corrected, what=f"a corrective revision above {claimed} confirmed")
    await rig.converged([label])


async def test_finding_7_report_above_the_desired_revision_is_not_confirmation(
    broker, store_id, tmp_path
):
    """A report of a revision above the desired one (with the desired hash) is not counted: the
    label gets a problem and the desired content again as a revision above the claim."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        label = label_id(1)
        revision, content_hash = await _shown(rig, label)
        _lie(rig, label, revision + 5, content_hash)
        await _corrected_above(rig, label, revision + 5)
        assert rig.sim.label(label).revision > revision + 5  # the real label took it
        found = await device(rig.ctl.conn, label)
        assert found is not None
        assert found.problem is not None
        assert found.problem.startswith(UNTRUSTED_PROBLEM)
        assert rig.ctl.push_stage.report_check.corrections == 1


async def test_finding_7_report_of_a_hash_never_sent_is_corrected(broker, store_id, tmp_path):
    """A report of content the controller never sent for that revision: not recorded as shown
    (the audit lists the label until it confirms again), a problem, and a corrective push."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        label = label_id(1)
        revision, _ = await _shown(rig, label)
        _lie(rig, label, revision, b"\x42" * 16)

        async def doubted() -> bool:
            return rig.ctl.push_stage.report_check.doubted >= 1

        await rig.wait_until(doubted, what="the report doubted")
        await _corrected_above(rig, label, revision)
        found = await device(rig.ctl.conn, label)
        assert found is not None
        assert found.problem is not None
        assert "never sent" in found.problem
        assert not await unconfirmed_labels(rig.ctl.conn)


async def test_a_label_that_keeps_lying_gets_one_correction_per_backoff_window(
    broker, store_id, tmp_path
):
    """Twenty lies in a row make one corrective push, not twenty (no push storm)."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        label = label_id(1)
        revision, content_hash = await _shown(rig, label)
        for n in range(20):
            _lie(rig, label, revision + 1000 + 10 * n, content_hash)  # each above the last
        check = rig.ctl.push_stage.report_check

        async def all_seen() -> bool:
            return check.doubted >= 20

        await rig.wait_until(all_seen, what="twenty reports doubted")
        assert check.corrections == 1
        state = await label_state(rig.ctl.conn, label)
        assert state is not None
        assert state.desired_revision == revision + 1001  # above the first lie only
        await rig.converged([label])


async def test_finding_7_a_birth_claiming_a_revision_above_the_desired_one_is_corrected(
    broker, store_id, tmp_path
):
    """What a Birth says it shows is judged like a report: a label born again claiming a
    revision above the desired one gets a problem and a correction above it, which it takes."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1) as rig:
        label = label_id(1)
        revision, _ = await _shown(rig, label)
        sim_label = rig.sim.label(label)

        def reboot(_: Gateway, now: float) -> list[Outgoing]:
            sim_label.revision = revision + 5  # its flash says so (a restored backup, a lie)
            return [Outgoing(label, m) for m in sim_label.boot(now)]

        rig.sim.act(label, reboot)
        await _corrected_above(rig, label, revision + 5)
        found = await device(rig.ctl.conn, label)
        assert found is not None
        assert found.problem is not None
        assert found.problem.startswith(UNTRUSTED_PROBLEM)


async def test_a_confirmed_push_clears_a_push_problem_and_no_other(broker, store_id, tmp_path):
    """A label's "no confirmation" problem ends when a push to it is confirmed; a problem of
    another kind stays (it has its own way out)."""
    async with store_with_labels(broker, store_id, tmp_path, labels=2) as rig:
        pushed, other = label_id(1), label_id(2)
        await _shown(rig, pushed)
        await rig.ctl.operations.link(other, "TR-7", actor="test")
        await rig.converged([other])
        now = datetime.now(UTC)
        await set_problem(rig.ctl.conn, pushed, f"{PUSH_PROBLEM} after 6 attempts", now)
        await set_problem(rig.ctl.conn, other, "panel refresh failed", now)
        await rig.publish_item(item("TR-7", "8.00"))  # a new image for both

        async def cleared() -> bool:
            found = await device(rig.ctl.conn, pushed)
            return found is not None and found.problem is None

        await rig.wait_until(cleared, what="the push problem cleared")
        await rig.converged([pushed, other])
        kept = await device(rig.ctl.conn, other)
        assert kept is not None
        assert kept.problem == "panel refresh failed"
