"""The controller's convergence log: counts from the real state database, one line while labels
move, silence when nothing changes, a closing line when all are confirmed."""

from __future__ import annotations

import logging
from pathlib import Path

import aiosqlite
import pytest

from controller.convergence_log import ConvergenceLog
from controller.state.database import open_database
from controller.state.labels_repo import convergence_counts

H = b"\x01" * 16


async def _store(conn: aiosqlite.Connection, labels: int) -> None:
    """`labels` adopted, linked labels, plus one unadopted device that does not count."""
    for n in range(labels + 1):
        device = f"lbl-{n:05d}"
        await conn.execute(
            "INSERT INTO devices (device_id, model, gateway_id, adopted) VALUES (?, 1, 'ap-1', ?)",
            (device, 1 if n < labels else 0),
        )
        await conn.execute(
            "INSERT INTO bindings (device_id, sku, linked_at, linked_by)"
            " VALUES (?, 'sku-1', '2026-01-01T00:00:00+00:00', 'test')",
            (device,),
        )


async def _render(conn: aiosqlite.Connection, first: int, count: int) -> None:
    for n in range(first, first + count):
        await conn.execute(
            "INSERT INTO label_state (device_id, desired_revision, desired_hash) VALUES (?, 1, ?)",
            (f"lbl-{n:05d}", H),
        )


async def _confirm(conn: aiosqlite.Connection, first: int, count: int) -> None:
    for n in range(first, first + count):
        await conn.execute(
            "UPDATE label_state SET reported_revision = 1, reported_hash = desired_hash"
            " WHERE device_id = ?",
            (f"lbl-{n:05d}",),
        )


async def test_counts_come_from_one_query(tmp_path: Path) -> None:
    """Linked adopted labels in all, those with a desired image, those reporting it."""
    async with open_database(tmp_path / "state.db") as conn:
        await _store(conn, 10)
        await _render(conn, 0, 6)
        await _confirm(conn, 0, 4)
        counts = await convergence_counts(conn)
    assert (counts.total, counts.rendered, counts.confirmed) == (10, 6, 4)


async def test_a_line_while_labels_converge(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """'converging: ... ~N s left' as counts move; nothing repeated when a few labels stay
    unconfirmed; 'converged' once every label is confirmed."""
    caplog.set_level(logging.INFO, logger="controller.convergence")
    now = [0.0]
    async with open_database(tmp_path / "state.db") as conn:
        await _store(conn, 200)
        progress_log = ConvergenceLog(conn, clock=lambda: now[0])
        await progress_log.tick()
        await _render(conn, 0, 100)
        now[0] = 5.0
        await progress_log.tick()
        await _render(conn, 100, 100)
        await _confirm(conn, 0, 50)
        now[0] = 10.0
        await progress_log.tick()
        await _confirm(conn, 50, 149)  # one label stays unconfirmed
        now[0] = 15.0
        await progress_log.tick()
        lines_before_quiet = len(caplog.messages)
        now[0] = 100.0  # 1 of 200 unconfirmed (under 1%): no repeated line
        await progress_log.tick()
        assert len(caplog.messages) == lines_before_quiet
        await _confirm(conn, 199, 1)
        now[0] = 105.0
        await progress_log.tick()
    lines = caplog.messages
    assert lines[0] == "converging: 0 / 200 labels confirmed (0 rendered), time left unknown"
    assert lines[1] == "converging: 0 / 200 labels confirmed (100 rendered), ~10 s left"
    assert lines[2].startswith("converging: 50 / 200 labels confirmed, ~")
    assert lines[3].startswith("converging: 199 / 200 labels confirmed, ~")
    assert lines[-1] == "converged: all 200 labels confirmed"
    assert len(lines) == 5
