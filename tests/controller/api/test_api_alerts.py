"""Alerts over REST (controller/api/alerts.py): filtered, paged, counted; acknowledged and
resolved by staff at the controller's clock, idempotent, audited; refusals say why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controller.state.alerts_repo import AlertKind, NewAlert, open_alert_in
from controller.state.units import run_unit
from tests.controller.api.api_kit import T0, Api

LANE_KINDS = (AlertKind.LOW_STOCK, AlertKind.OUT_OF_STOCK, AlertKind.MISPLACED)


async def _open(api: Api, kind: AlertKind, subject: str, minutes_ago: float = 10) -> int:
    """Open an alert as the shelf events do; its id."""
    device_id, _, lane = subject.partition("/")
    new = NewAlert(kind, subject, device_id, int(lane) if lane else None, "TR-1", {"count": 1})
    opened = await run_unit(
        api.controller.conn, open_alert_in, new, T0 - timedelta(minutes=minutes_ago)
    )
    assert opened
    async with api.controller.conn.execute("SELECT max(id) FROM alerts") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _get(api: Api, path: str, params: Any = None, role: str = "viewer") -> Any:
    answer = await api.client.get(f"/api/v1/{path}", params=params, headers=api.as_(role))
    return answer.status_code, answer.json()


async def _post(api: Api, path: str, role: str = "staff") -> Any:
    answer = await api.client.post(f"/api/v1/{path}", headers=api.as_(role))
    return answer.status_code, answer.json()


async def test_list_filters_by_state_and_kind_newest_first_with_counts(api: Api) -> None:
    """Newest first; state and kind filters repeat and combine; the unresolved counts cover every
    kind whatever the filters, and a resolved alert is in no count."""
    low = await _open(api, AlertKind.LOW_STOCK, "shelf-00001/0")
    out = await _open(api, AlertKind.OUT_OF_STOCK, "shelf-00001/1")
    misplaced = await _open(api, AlertKind.MISPLACED, "shelf-00001/2")
    help_ = await _open(api, AlertKind.HELP, "room-3")
    assert (await _post(api, f"alerts/{out}/ack"))[0] == 200
    assert (await _post(api, f"alerts/{misplaced}/resolve"))[0] == 200

    status, body = await _get(api, "alerts")
    assert status == 200, body
    assert [a["id"] for a in body["alerts"]] == [help_, misplaced, out, low]
    assert body["next_before_id"] is None
    assert body["unresolved"] == {
        "low_stock": {"open": 1, "acknowledged": 0},
        "out_of_stock": {"open": 0, "acknowledged": 1},
        "misplaced": {"open": 0, "acknowledged": 0},
        "uncertain": {"open": 0, "acknowledged": 0},
        "sensor_offline": {"open": 0, "acknowledged": 0},
        "help": {"open": 1, "acknowledged": 0},
    }

    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"state": ["open", "acknowledged"]}, [help_, out, low]),
        ({"state": "resolved"}, [misplaced]),
        ({"kind": "low_stock"}, [low]),
        ({"kind": ["low_stock", "help"], "state": "open"}, [help_, low]),
        ({"kind": "out_of_stock", "state": "open"}, []),
    ]
    for params, expected in cases:
        status, body = await _get(api, "alerts", params)
        assert (status, [a["id"] for a in body["alerts"]]) == (200, expected), params
        assert body["unresolved"]["help"] == {"open": 1, "acknowledged": 0}


async def test_paging_with_before_id(api: Api) -> None:
    """Five alerts two at a time: pages of 2, 2, 1, each starting below the last page's end."""
    ids = [await _open(api, AlertKind.LOW_STOCK, f"shelf-00001/{lane}") for lane in range(5)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    pages = 0
    while True:
        status, body = await _get(api, "alerts", params)
        assert status == 200, body
        seen += [a["id"] for a in body["alerts"]]
        pages += 1
        if body["next_before_id"] is None:
            break
        params["before_id"] = body["next_before_id"]
    assert (pages, seen) == (3, ids[::-1])


async def test_one_alert_and_its_times(api: Api) -> None:
    """An alert's answer: its fields, and the seconds to acknowledge and resolve once known,
    measured from its opening to the controller's clock (T0)."""
    alert_id = await _open(api, AlertKind.OUT_OF_STOCK, "shelf-00001/3", minutes_ago=12)
    status, body = await _get(api, f"alerts/{alert_id}")
    assert status == 200, body
    assert {k: body[k] for k in ("kind", "subject", "state", "device_id", "lane", "sku")} == {
        "kind": "out_of_stock",
        "subject": "shelf-00001/3",
        "state": "open",
        "device_id": "shelf-00001",
        "lane": 3,
        "sku": "TR-1",
    }
    assert body["detail"] == {"count": 1}
    assert (body["time_to_acknowledge_s"], body["time_to_resolve_s"]) == (None, None)

    status, body = await _post(api, f"alerts/{alert_id}/ack")
    assert (status, body["state"], body["acknowledged_by"]) == (200, "acknowledged", "staff")
    assert body["acknowledged_at"] == T0.isoformat().replace("+00:00", "Z")
    assert (body["time_to_acknowledge_s"], body["time_to_resolve_s"]) == (720.0, None)

    status, body = await _post(api, f"alerts/{alert_id}/resolve", role="admin")
    assert (status, body["state"], body["resolved_by"]) == (200, "resolved", "admin")
    assert (body["time_to_acknowledge_s"], body["time_to_resolve_s"]) == (720.0, 720.0)
    assert (await _get(api, f"alerts/{alert_id}"))[1] == body


async def test_viewer_may_read_but_not_acknowledge_or_resolve(api: Api) -> None:
    """A viewer's ack and resolve are 403 and change nothing; the refusals are audited as
    denials."""
    alert_id = await _open(api, AlertKind.LOW_STOCK, "shelf-00001/0")
    for action in ("ack", "resolve"):
        status, body = await _post(api, f"alerts/{alert_id}/{action}", role="viewer")
        assert status == 403, body
        assert "staff" in body["detail"]
    status, body = await _get(api, f"alerts/{alert_id}")
    assert (status, body["state"], body["version"]) == (200, "open", 1)
    assert await api.audit(f"alert:{alert_id}") == []
    async with api.controller.conn.execute(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.denied' AND actor = 'viewer'"
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] == 2


async def test_ack_and_resolve_are_idempotent_and_audited_once(api: Api) -> None:
    """Acknowledging twice answers the same alert (the first acknowledger stays), resolving twice
    too; each change is one audit entry with the token's name, a repeat adds none."""
    alert_id = await _open(api, AlertKind.MISPLACED, "shelf-00001/2")
    first = await _post(api, f"alerts/{alert_id}/ack")
    again = await _post(api, f"alerts/{alert_id}/ack", role="admin")
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    assert (again[1]["acknowledged_by"], again[1]["version"]) == ("staff", 2)

    done = await _post(api, f"alerts/{alert_id}/resolve")
    twice = await _post(api, f"alerts/{alert_id}/resolve", role="admin")
    assert done[0] == twice[0] == 200
    assert done[1] == twice[1]
    assert (twice[1]["resolved_by"], twice[1]["version"]) == ("staff", 3)

    entries = await api.audit(f"alert:{alert_id}")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("alert.resolved", "staff"),
        ("alert.acknowledged", "staff"),
    ]
    assert entries[0]["detail"] == {"kind": "misplaced", "subject": "shelf-00001/2"}


async def test_resolving_an_open_alert_skips_acknowledging(api: Api) -> None:
    """An open alert may be resolved at once: no acknowledger, no time to acknowledge."""
    alert_id = await _open(api, AlertKind.HELP, "room-1", minutes_ago=1)
    status, body = await _post(api, f"alerts/{alert_id}/resolve")
    assert status == 200, body
    assert (body["state"], body["acknowledged_by"], body["time_to_acknowledge_s"]) == (
        "resolved",
        None,
        None,
    )
    assert body["time_to_resolve_s"] == 60.0


async def test_acknowledging_a_resolved_alert_is_409(api: Api) -> None:
    """Too late to acknowledge a resolved alert: 409 with the reason, nothing changed or
    audited."""
    alert_id = await _open(api, AlertKind.LOW_STOCK, "shelf-00001/0")
    assert (await _post(api, f"alerts/{alert_id}/resolve"))[0] == 200
    status, body = await _post(api, f"alerts/{alert_id}/ack")
    assert status == 409, body
    assert "already resolved" in body["detail"]
    status, body = await _get(api, f"alerts/{alert_id}")
    assert (body["state"], body["acknowledged_by"], body["version"]) == ("resolved", None, 2)
    assert [e["action"] for e in await api.audit(f"alert:{alert_id}")] == ["alert.resolved"]


async def test_unknown_alert_is_404(api: Api) -> None:
    """No such alert: 404 on read, ack and resolve, and no audit entry."""
    for status, body in [
        await _get(api, "alerts/4242"),
        await _post(api, "alerts/4242/ack"),
        await _post(api, "alerts/4242/resolve"),
    ]:
        assert (status, body["detail"]) == (404, "no alert 4242")
    assert await api.audit("alert:4242") == []


async def test_bad_parameters_are_422_and_say_why(api: Api) -> None:
    """An unknown kind or state names the ones there are; a limit beyond 1..500, a before_id or
    an id below 1 or past SQLite's integers, or no number at all, is 422."""
    status, body = await _get(api, "alerts", {"kind": "on_fire"})
    assert status == 422, body
    [problem] = body["detail"]
    assert problem["loc"] == ["query", "kind", 0]
    assert "low_stock" in problem["msg"]
    assert "help" in problem["msg"]
    status, body = await _get(api, "alerts", {"state": ["open", "closed"]})
    assert status == 422, body
    assert body["detail"][0]["loc"] == ["query", "state", 1]
    assert "acknowledged" in body["detail"][0]["msg"]
    for params in [{"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"before_id": 0}]:
        assert (await _get(api, "alerts", params))[0] == 422, params
    assert (await _get(api, "alerts", {"limit": 500}))[0] == 200
    for path in ["alerts/0", f"alerts/{2**63}", "alerts/x"]:
        assert (await _get(api, path))[0] == 422, path
        assert (await _post(api, f"{path}/ack"))[0] == 422, path
