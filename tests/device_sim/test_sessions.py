"""Session counters of the simulator never go down, not even across restarts (PROTOCOL.md §4.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_sim.behaviour import Behaviour
from device_sim.errors import SimulatorError
from device_sim.gateway import Gateway
from device_sim.sessions import BLOCK, SessionCounters
from device_sim.store import StoreSpec, build_store
from firmware_protocol.codec import encode
from firmware_protocol.messages import Birth, CommandResult, Death, Rebirth


def _run(state: Path, reconnects: int) -> dict[str, int]:
    """Build the store from the state directory, connect and reconnect it; the sessions used."""
    counters = SessionCounters.for_store(state, "s1")
    spec = StoreSpec("s1", labels=3, sensors=1, access_points=1)
    gateways = build_store(spec, Behaviour.instant(), counters=counters)
    sessions: dict[str, int] = {}
    for _ in range(reconnects + 1):
        for gw in gateways:
            will = gw.will()
            for out in gw.connect(0.0):
                if isinstance(out.message, Birth):
                    sessions[out.device_id] = out.message.session
            assert will.message.session == sessions[will.device_id]
    return sessions


def test_finding_11_a_restarted_simulator_starts_above_its_previous_sessions(tmp_path):
    """Every device (and access point) of a second run is born above every session the first
    run used or named in a Will, so its old retained Deaths cannot mark it offline."""
    first = _run(tmp_path, reconnects=3)
    second = _run(tmp_path, reconnects=0)
    assert set(first) == set(second)
    for device_id, session in first.items():
        assert second[device_id] > session + 1, device_id  # above the last Will too


def test_counters_are_reserved_in_blocks_so_reconnects_rarely_write(tmp_path):
    """A store's first start writes the file once; reconnects within a block write nothing."""
    counters = SessionCounters.for_store(tmp_path, "s1")
    gateways = build_store(
        StoreSpec("s1", labels=50, access_points=2), Behaviour.instant(), counters=counters
    )
    assert counters.writes == 1
    for _ in range(BLOCK):  # sessions 1..BLOCK, each named in a Will first
        for gw in gateways:
            gw.will()
            gw.connect(0.0)
    assert counters.writes == 1
    for gw in gateways:
        gw.will()
        gw.connect(0.0)
    assert counters.writes > 1  # crossing the block reserves the next one first


def test_a_corrupt_counter_file_is_an_error_not_a_restart_at_one(tmp_path):
    """A counter file that cannot be read stops the simulator instead of resetting sessions."""
    (tmp_path / "sessions-s1.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SimulatorError, match="session counters"):
        SessionCounters.for_store(tmp_path, "s1")


def test_a_rebirth_for_an_access_point_reannounces_it_and_its_labels(tmp_path):
    """Rebirth addressed to the access point itself: its Birth and every label's, with the
    current sessions (what the controller asks of an access point it just adopted)."""
    (ap,) = build_store(StoreSpec("s1", 2, access_points=1), Behaviour.instant())
    assert isinstance(ap, Gateway)
    ap.connect(0.0)
    out = ap.receive(ap.gateway_id, encode(Rebirth(7)), 1.0)
    births = {o.device_id: o.message.session for o in out if isinstance(o.message, Birth)}
    assert births == {"ap-01": ap.ap_session, "lbl-00001": 1, "lbl-00002": 1}
    assert any(isinstance(o.message, CommandResult) and o.message.txn == 7 for o in out)
    assert not any(isinstance(o.message, Death) for o in out)
