"""The store's stock loop (issue 15): a lane's counts become the item's shelf stock, its labels'
badge, alerts for staff and the rows HQ receives in sequence (controller/state/stock_repo.py,
controller/shelf_service.py). Through the real device intake and SQLite, a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from controller.state.alerts_repo import AlertKind, AlertState, list_alerts
from controller.state.render_queue import take
from controller.state.stock_repo import lanes_of_item, shelf_summaries, unsent_upstream
from controller.state.units import run_read
from firmware_protocol.messages import Event, EventKind
from label_renderer.content import StockBadge
from tests.controller.api.api_kit import T0, Api, item, open_api, settings_for
from tests.support.shelf_intake import Clock, Sensor, message

SENSOR = "shelf-00001"
LABEL = "lbl-00001"
UNIT = 365
OTHER = 5_000  # what the unlinked lanes weigh


@asynccontextmanager
async def _store(tmp_path: Path, store_id: str, **stock: Any) -> AsyncIterator[tuple[Api, Sensor]]:
    """An idle controller with item TR-W on lane 1 (low at 2) and on a label; a born sensor."""
    clock = Clock(T0)
    settings = settings_for(tmp_path, store_id, adopt=("lbl-*", "shelf-*"))
    async with open_api(settings, clock=clock) as api:
        await api.controller.shelves.load()
        sensor = Sensor(api.controller, clock, SENSOR)
        await sensor.birth()
        body = item("TR-W", net_quantity={"value": str(UNIT), "unit": "g"})
        if stock:
            body["stock"] = stock
        put = await api.client.put("/api/v1/items/TR-W", json=body, headers=api.as_("staff"))
        assert put.status_code in (200, 201), put.text
        await api.add_label(LABEL)
        linked = await api.client.post(
            f"/api/v1/labels/{LABEL}/link", json={"item": "TR-W"}, headers=api.as_("staff")
        )
        assert linked.status_code == 200, linked.text
        lane = await api.client.post(
            f"/api/v1/sensors/{SENSOR}/lanes/1/link",
            json={"sku": "TR-W", "low_stock": 2},
            headers=api.as_("staff"),
        )
        assert lane.status_code == 200, lane.text
        await _drain_queue(api)
        yield api, sensor


async def _drain_queue(api: Api) -> None:
    """Forget what the setup queued for rendering (no render stage runs here)."""
    await api.controller.conn.execute("DELETE FROM render_queue")
    await api.controller.conn.commit()


async def _queued(api: Api) -> list[str]:
    return [q.device_id for q in await take(api.controller.conn, 100)]


async def _badge(api: Api) -> StockBadge | None:
    """The badge the render stage would draw on the label now."""
    _, contents, problems, _ = await api.controller.render_stage.jobs([LABEL], T0)
    assert not problems, problems
    return contents["TR-W"].stock


async def _alerts(api: Api) -> list[tuple[str, str, str | None]]:
    found = await list_alerts(api.controller.conn)
    return [(a.kind.value, a.state.value, a.resolved_by) for a in reversed(found)]


async def test_sales_empty_a_lane_low_then_out_and_a_restock_clears_it(
    tmp_path: Path, store_id: str
) -> None:
    """4 units, 2 sold (low: alert, badge, label queued), 2 sold (out: the low alert becomes an
    out-of-stock one, badge "out"), 5 back (both resolved by the shelf, no badge); HQ's rows
    are each change in order with no gap in `seq`."""
    async with _store(tmp_path, store_id) as (api, sensor):
        await sensor.hold(40, (OTHER, 4 * UNIT, OTHER, 0))
        assert await _badge(api) is None
        assert await _queued(api) == [LABEL]  # the shelf's count replaces the catalog's figures
        await _drain_queue(api)
        await sensor.hold(40, (OTHER, 2 * UNIT, OTHER, 0))
        assert await _alerts(api) == [("low_stock", "open", None)]
        assert await _badge(api) is StockBadge.LOW
        assert await _queued(api) == [LABEL]
        await _drain_queue(api)

        await sensor.hold(40, (OTHER, 0, OTHER, 0))
        assert await _alerts(api) == [
            ("low_stock", "resolved", "shelf"),
            ("out_of_stock", "open", None),
        ]
        assert await _badge(api) is StockBadge.OUT
        assert await _queued(api) == [LABEL]
        await _drain_queue(api)

        await sensor.hold(40, (OTHER, 5 * UNIT, OTHER, 0))
        assert await _alerts(api) == [
            ("low_stock", "resolved", "shelf"),
            ("out_of_stock", "resolved", "shelf"),
        ]
        assert await _badge(api) is None
        assert await _queued(api) == [LABEL]

        rows = await unsent_upstream(api.controller.conn, 100)
        assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + len(rows)))
        changes = [
            (r.document["change"]["cause"], r.document["change"]["units"], r.document["shelf"])
            for r in rows
        ]
        assert changes == [
            ("initial", None, {"count": 4, "state": "ok", "lanes": 1}),
            ("sale", -2, {"count": 2, "state": "low", "lanes": 1}),
            ("sale", -2, {"count": 0, "state": "out", "lanes": 1}),
            ("restock", 5, {"count": 5, "state": "ok", "lanes": 1}),
        ]
        [lane] = await lanes_of_item(api.controller.conn, "TR-W")
        assert (lane.device_id, lane.lane, lane.count, lane.state) == (SENSOR, 1, 5, "ok")


async def test_an_empty_shelf_points_to_online_stock(tmp_path: Path, store_id: str) -> None:
    """The catalog says the store has 40 and online has some: an empty shelf shows "available
    online", not the catalog's count."""
    async with _store(tmp_path, store_id, quantity=40, online_available=True) as (api, sensor):
        await sensor.hold(40, (OTHER, 3 * UNIT, OTHER, 0))
        assert await _badge(api) is None
        await sensor.hold(40, (OTHER, 0, OTHER, 0))
        assert await _badge(api) is StockBadge.ONLINE


async def test_two_lanes_of_an_item_are_out_only_when_both_are(
    tmp_path: Path, store_id: str
) -> None:
    """Lanes 1 and 2 hold the item: lane 1 empty is the lane's alert, not the item's badge."""
    async with _store(tmp_path, store_id) as (api, sensor):
        lane = await api.client.post(
            f"/api/v1/sensors/{SENSOR}/lanes/2/link",
            json={"sku": "TR-W", "low_stock": 2},
            headers=api.as_("staff"),
        )
        assert lane.status_code == 200, lane.text
        await sensor.hold(40, (OTHER, 4 * UNIT, 6 * UNIT, 0))
        await sensor.hold(40, (OTHER, 0, 6 * UNIT, 0))
        summary = (await shelf_summaries(api.controller.conn, ["TR-W"]))["TR-W"]
        assert (summary.count, summary.state, summary.lanes) == (6, "ok", 2)
        assert await _badge(api) is None
        assert [(a.kind, a.subject) for a in await list_alerts(api.controller.conn)] == [
            (AlertKind.OUT_OF_STOCK, f"{SENSOR}/1")
        ]


async def test_unlinking_a_lane_resolves_its_alerts_and_forgets_its_count(
    tmp_path: Path, store_id: str
) -> None:
    async with _store(tmp_path, store_id) as (api, sensor):
        await sensor.hold(40, (OTHER, 4 * UNIT, OTHER, 0))
        await sensor.hold(40, (OTHER, 0, OTHER, 0))
        assert await _badge(api) is StockBadge.OUT
        await _drain_queue(api)
        gone = await api.client.post(
            f"/api/v1/sensors/{SENSOR}/lanes/1/unlink", headers=api.as_("staff")
        )
        assert gone.status_code == 200, gone.text
        [out] = [a for a in await list_alerts(api.controller.conn) if a.kind == "out_of_stock"]
        assert (out.state, out.resolved_by) == (AlertState.RESOLVED, "staff")
        assert await lanes_of_item(api.controller.conn, "TR-W") == []
        assert await _badge(api) is None  # the catalog's figures again (none here)
        assert await _queued(api) == [LABEL]


async def test_a_rolled_back_batch_takes_no_sequence_number(tmp_path: Path, store_id: str) -> None:
    """A flush that fails is kept and recorded by the next one: HQ's sequence has no hole."""
    async with _store(tmp_path, store_id) as (api, sensor):
        conn = api.controller.conn
        await conn.execute(
            "CREATE TRIGGER fail_once BEFORE INSERT ON stock_upstream"
            " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )
        await conn.commit()
        await sensor.hold(40, (OTHER, 4 * UNIT, OTHER, 0))  # the intake logs each failed flush
        count = await run_read(
            conn, lambda db: db.execute("SELECT count(*) FROM stock_upstream").fetchone()[0]
        )
        assert count == 0
        await conn.execute("DROP TRIGGER fail_once")
        await conn.commit()
        await sensor.hold(40, (OTHER, 2 * UNIT, OTHER, 0))
        rows = await unsent_upstream(conn, 100)
        assert [r.document["change"]["cause"] for r in rows] == ["initial", "sale"]
        assert [r.seq for r in rows] == [1, 2]


async def test_get_stock_shows_the_catalog_the_shelf_and_what_hq_was_sent(
    tmp_path: Path, store_id: str
) -> None:
    async with _store(tmp_path, store_id, quantity=12, online_available=True) as (api, sensor):
        before = await api.client.get("/api/v1/stock/TR-W", headers=api.as_("viewer"))
        assert before.status_code == 200, before.text
        assert before.json()["shelf"] is None
        assert before.json()["badge"] is None  # 12 in the store, above the low threshold
        await sensor.hold(40, (OTHER, 3 * UNIT, OTHER, 0))
        await sensor.hold(40, (OTHER, 0, OTHER, 0))
        answer = await api.client.get("/api/v1/stock/TR-W", headers=api.as_("viewer"))
        body = answer.json()
        assert body["catalog"]["quantity"] == 12
        assert body["badge"] == "online"
        assert (body["shelf"]["count"], body["shelf"]["state"]) == (0, "out")
        assert [(lane["device_id"], lane["lane"]) for lane in body["shelf"]["lanes"]] == [
            (SENSOR, 1)
        ]
        upstream = body["upstream"]
        assert (upstream["last_seq"], upstream["last_sent_seq"], upstream["unsent"]) == (2, None, 2)
        assert [(m["seq"], m["change"]["cause"], m["sent"]) for m in upstream["recent"]] == [
            (2, "sale", False),
            (1, "initial", False),
        ]
        missing = await api.client.get("/api/v1/stock/NOPE", headers=api.as_("viewer"))
        assert missing.status_code == 404
        anonymous = await api.client.get("/api/v1/stock/TR-W")
        assert anonymous.status_code == 401


async def test_the_sensors_own_lane_empty_is_a_second_opinion(
    tmp_path: Path, store_id: str
) -> None:
    """LANE_EMPTY while the weight still counts 4: after the grace period, one `uncertain`
    alert (recount); LANE_EMPTY for a lane that the weight then counts empty: nothing more."""
    async with _store(tmp_path, store_id) as (api, sensor):
        await sensor.hold(40, (OTHER, 4 * UNIT, OTHER, 0))
        said_empty = message(sensor.store, SENSOR, Event(1, EventKind.LANE_EMPTY, "lane-1"))
        await sensor.report((OTHER, 4 * UNIT, OTHER, 0), said_empty)
        await api.controller.shelves.poll()
        assert await list_alerts(api.controller.conn) == []  # the weight may still follow
        await sensor.hold(100, (OTHER, 4 * UNIT, OTHER, 0))
        await api.controller.shelves.poll()
        [recount] = await list_alerts(api.controller.conn)
        assert (recount.kind, recount.subject, recount.detail["count"]) == (
            AlertKind.UNCERTAIN,
            f"{SENSOR}/1",
            4,
        )

        agreed = message(sensor.store, SENSOR, Event(2, EventKind.LANE_EMPTY, "lane-1"))
        await sensor.report((OTHER, 0, OTHER, 0), agreed)
        await sensor.hold(100, (OTHER, 0, OTHER, 0))
        await api.controller.shelves.poll()
        kinds = sorted(a.kind.value for a in await list_alerts(api.controller.conn))
        assert kinds == ["out_of_stock", "uncertain"]  # no second recount
        nonsense = message(sensor.store, SENSOR, Event(3, EventKind.LANE_EMPTY, "lane-99"))
        await sensor.report((OTHER, 0, OTHER, 0), nonsense)
        assert api.controller.shelves.ignored["lane empty of no linked lane"] == 1


async def test_a_misplaced_product_is_an_alert_not_a_stock_change(
    tmp_path: Path, store_id: str
) -> None:
    """180 g of something else left on a lane of 4: a `misplaced` alert with the weight, no row
    for HQ, the count and the labels unchanged; taken away: the alert resolved by the shelf. A
    weight of no whole number of units taken: `uncertain` (recount), no row for HQ either."""
    async with _store(tmp_path, store_id) as (api, sensor):
        await sensor.hold(40, (OTHER, 4 * UNIT, OTHER, 0))
        await _drain_queue(api)
        await sensor.hold(40, (OTHER, 4 * UNIT + 180, OTHER, 0))
        [misplaced] = await list_alerts(api.controller.conn)
        assert (misplaced.kind, misplaced.subject, misplaced.state) == (
            AlertKind.MISPLACED,
            f"{SENSOR}/1",
            AlertState.OPEN,
        )
        assert abs(misplaced.detail["grams"] - 180) < 5
        assert await _queued(api) == []
        await sensor.hold(40, (OTHER, 4 * UNIT, OTHER, 0))
        [cleared] = await list_alerts(api.controller.conn)
        assert (cleared.state, cleared.resolved_by) == (AlertState.RESOLVED, "shelf")

        await sensor.hold(40, (OTHER, 4 * UNIT - UNIT // 2, OTHER, 0))
        uncertain = [a for a in await list_alerts(api.controller.conn) if a.kind == "uncertain"]
        assert [a.state for a in uncertain] == [AlertState.OPEN]
        rows = await unsent_upstream(api.controller.conn, 100)
        assert [r.document["change"]["cause"] for r in rows] == ["initial"]
        [lane] = await lanes_of_item(api.controller.conn, "TR-W")
        assert lane.count == 4
