"""The one line `omnishelf serve` and the demo print when their controller stops."""

from __future__ import annotations

import sqlite3

from controller.service import failure_reason
from controller.state.database import StorageFault


def test_a_stopped_controller_is_described_by_its_root_causes_once() -> None:
    """Nested TaskGroup errors come down to their leaves, each named once, in order."""
    full = StorageFault("the state database cannot take writes: database or disk is full")
    group = ExceptionGroup(
        "controller",
        [
            ExceptionGroup("stages", [full, full]),
            ExceptionGroup("render", [sqlite3.OperationalError("disk I/O error")]),
        ],
    )
    assert failure_reason(group) == (
        "StorageFault: the state database cannot take writes: database or disk is full; "
        "OperationalError: disk I/O error"
    )
