"""Shelf sensors, fitting rooms and the store builder, driven tick by tick with explicit times."""

from __future__ import annotations

import itertools
import random

import pytest

from device_sim.behaviour import Behaviour
from device_sim.fitting_room import NO_ANSWER, SimFittingRoom
from device_sim.gateway import Gateway
from device_sim.label import SimLabel
from device_sim.shelf_sensor import SimShelfSensor
from device_sim.store import LABEL_MIX, StoreSpec, build_store
from firmware_protocol.messages import (
    Birth,
    Event,
    EventKind,
    Message,
    Reboot,
    Request,
    RequestKind,
    Response,
    ResponseStatus,
    Telemetry,
)
from firmware_protocol.models import DeviceKind, ModelId, model

HOUR = 3600.0


def sensor(model_id: ModelId, seed: int = 1, **behaviour: float) -> SimShelfSensor:
    return SimShelfSensor(
        "shelf-1", model(model_id), Behaviour.instant(**behaviour), random.Random(seed)
    )


def events(out: list[Message], kind: EventKind | None = None) -> list[Event]:
    return [m for m in out if isinstance(m, Event) and (kind is None or m.kind is kind)]


def telemetry(out: list[Message]) -> list[Telemetry]:
    return [m for m in out if isinstance(m, Telemetry)]


# ---- shelf sensors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "lanes"), [(ModelId.SHELF_SENSOR_4, 4), (ModelId.SHELF_SENSOR_8, 8)]
)
def test_first_tick_reports_one_weight_per_lane(model_id: ModelId, lanes: int) -> None:
    """The first tick emits Telemetry with one weight per lane, each a full lane's weight."""
    shelf = sensor(model_id)
    (report,) = telemetry(shelf.tick(0.0))
    assert len(report.lane_grams) == lanes
    assert report.seq == 1
    for grams, lane in zip(report.lane_grams, shelf.lanes, strict=True):
        assert lane.count == lane.capacity
        assert abs(grams - lane.capacity * lane.unit_grams) <= 3


def test_sales_lower_the_weights() -> None:
    """With a high sale rate, the weights reported a few minutes later are lower."""
    shelf = sensor(ModelId.SHELF_SENSOR_8, sale_rate_per_h=60.0)
    (start,) = telemetry(shelf.tick(0.0))
    (later,) = telemetry(shelf.tick(300.0))  # restocks take at least 600 s to arrive
    assert sum(later.lane_grams) < sum(start.lane_grams)
    for before, after in zip(start.lane_grams, later.lane_grams, strict=True):
        assert after <= before + 6  # scale noise is +/- 3 g


def test_lanes_empty_fire_events_and_restock_later() -> None:
    """Over hours of heavy sales each emptied lane fires LANE_EMPTY and is refilled afterwards."""
    shelf = sensor(ModelId.SHELF_SENSOR_4, sale_rate_per_h=120.0)
    shelf.tick(0.0)
    emptied: dict[int, float] = {}
    refilled: set[int] = set()
    empty_events = 0
    now = 0.0
    while now < 4 * HOUR:
        now += 60.0
        out = shelf.tick(now)
        for event in events(out, EventKind.LANE_EMPTY):
            empty_events += 1
            index = int(event.subject.removeprefix("lane-"))
            (report,) = telemetry(out)
            assert report.lane_grams[index] <= 3  # empty, give or take the scale noise
            emptied.setdefault(index, now)
        for index, at in emptied.items():
            lane = shelf.lanes[index]
            if now > at and lane.count == lane.capacity:
                refilled.add(index)
    assert empty_events >= 4
    assert set(emptied) == {0, 1, 2, 3}
    assert refilled == set(emptied)


def test_no_sales_no_lane_empty() -> None:
    """Without sales no lane empties and weights stay at full capacity."""
    shelf = sensor(ModelId.SHELF_SENSOR_4, sale_rate_per_h=0.0, checkin_s=60.0)
    out: list[Message] = []
    for step in range(180):
        out += shelf.tick(step * 60.0)
    assert events(out) == []
    assert all(lane.count == lane.capacity for lane in shelf.lanes)


# ---- fitting rooms --------------------------------------------------------------------------

EPCS = tuple(f"3034257BF7194E4000000{n:03d}" for n in range(20))


def room(seed: int = 1, epcs: tuple[str, ...] = EPCS, visits: float = 100.0) -> SimFittingRoom:
    return SimFittingRoom(
        "fit-01",
        model(ModelId.FITTING_ROOM_DISPLAY),
        Behaviour.instant(fitting_visits_per_h=visits),
        random.Random(seed),
        catalogue_epcs=epcs,
    )


def first_visit(fitting: SimFittingRoom) -> tuple[float, list[Message]]:
    """Tick every 10 s until a shopper arrives; the time and what the room published."""
    fitting.tick(0.0)
    now = 0.0
    while now < HOUR:
        now += 10.0
        out = fitting.tick(now)
        if events(out, EventKind.ITEM_IN):
            return now, out
    raise AssertionError("no shopper arrived within an hour")


def test_items_in_are_each_followed_by_a_stock_query() -> None:
    """Every ITEM_IN is immediately followed by a STOCK_QUERY for its EPC with a fresh txn."""
    fitting = room()
    _, out = first_visit(fitting)
    assert fitting.items_inside == [e.subject for e in events(out, EventKind.ITEM_IN)]
    for step in range(1, 720):  # two more hours of shoppers
        out += fitting.tick(step * 10.0 + HOUR)
    txns = []
    for i, message in enumerate(out):
        if isinstance(message, Event) and message.kind is EventKind.ITEM_IN:
            request = out[i + 1]
            assert isinstance(request, Request)
            assert request.kind is RequestKind.STOCK_QUERY
            assert request.subject == message.subject
            assert message.subject in EPCS
            txns.append(request.txn)
    assert len(txns) >= 5
    assert len(set(txns)) == len(txns)
    assert {m.txn for m in out if isinstance(m, Request)} == set(txns)  # retries: the same txns


def test_an_unanswered_question_is_asked_once_more_then_given_up() -> None:
    """No Response within 10 s: the same Request again; none to the retry within 10 s more: the
    display says so and the txn is forgotten (a late Response is then ignored)."""
    fitting = room(visits=0.0)
    fitting.tick(0.0)
    [_, asked] = fitting.bring_in(EPCS[0], 0.0)
    assert isinstance(asked, Request)
    assert [m for m in fitting.tick(9.9) if isinstance(m, Request)] == []
    assert [m for m in fitting.tick(10.0) if isinstance(m, Request)] == [asked]
    assert fitting.retries == 1
    assert [m for m in fitting.tick(15.0) if isinstance(m, Request)] == []
    assert fitting.display == ()
    assert [m for m in fitting.tick(20.0) if isinstance(m, Request)] == []
    assert fitting.display == NO_ANSWER
    assert fitting.unanswered == 1
    assert fitting.handle(Response(asked.txn, ResponseStatus.OK, ("late",)), 21.0) == []
    assert fitting.display == NO_ANSWER


def test_an_answer_to_the_retry_is_shown() -> None:
    fitting = room(visits=0.0)
    fitting.tick(0.0)
    [_, asked] = fitting.bring_in(EPCS[0], 0.0)
    assert isinstance(asked, Request)
    fitting.tick(10.0)
    fitting.handle(Response(asked.txn, ResponseStatus.OK, ("38: mağazada 2",)), 11.0)
    assert fitting.display == ("38: mağazada 2",)
    assert [m for m in fitting.tick(30.0) if isinstance(m, Request)] == []
    assert (fitting.display, fitting.unanswered) == (("38: mağazada 2",), 0)


def test_response_sets_display_and_unknown_txn_is_ignored() -> None:
    """A Response to a pending txn sets the display (cut to text_lines); unknown txns do not."""
    fitting = room()
    _, out = first_visit(fitting)
    txn = next(m.txn for m in out if isinstance(m, Request))
    lines = tuple(f"size {n}" for n in range(10))
    assert fitting.handle(Response(txn + 1000, ResponseStatus.OK, ("wrong",)), 1.0) == []
    assert fitting.display == ()
    assert fitting.handle(Response(txn, ResponseStatus.OK, lines), 2.0) == []
    assert fitting.display == lines[: model(ModelId.FITTING_ROOM_DISPLAY).text_lines]
    assert len(fitting.display) == 6
    assert fitting.handle(Response(txn, ResponseStatus.OK, ("again",)), 3.0) == []
    assert fitting.display == lines[:6]  # a txn is answered once


def test_shopper_leaving_takes_every_item_out() -> None:
    """When the shopper leaves, ITEM_OUT fires for every item brought in, and the room clears."""
    fitting = room()
    now, _ = first_visit(fitting)
    inside = list(fitting.items_inside)
    assert fitting.leave_at is not None
    leave_at = fitting.leave_at
    assert events(fitting.tick(leave_at - 0.1), EventKind.ITEM_OUT) == []
    out = fitting.tick(leave_at)
    assert [e.subject for e in events(out, EventKind.ITEM_OUT)] == inside
    assert (fitting.items_inside, fitting.display, fitting.leave_at) == ([], (), None)
    assert now < leave_at


def test_help_button_raises_help_request() -> None:
    """press_help emits HELP_REQUEST; leaving with help open cancels it."""
    fitting = room(visits=0.0)
    (event,) = fitting.press_help()
    assert isinstance(event, Event)
    assert (event.kind, event.subject) == (EventKind.HELP_REQUEST, "fit-01")
    assert fitting.help_open
    fitting.bring_in(EPCS[0])
    fitting.leave_at = 100.0
    kinds = [e.kind for e in events(fitting.tick(100.0))]
    assert kinds == [EventKind.ITEM_OUT, EventKind.HELP_CANCEL]
    assert not fitting.help_open


def test_no_catalogue_no_shoppers() -> None:
    """Without catalogue EPCs no shopper ever brings anything in."""
    fitting = room(epcs=())
    out: list[Message] = []
    for step in range(360):
        out += fitting.tick(step * 10.0)
    assert out == []


def test_event_ids_strictly_increase_per_device() -> None:
    """Across visits, help presses and shelf emptying, each device's event_id strictly increases."""
    fitting = room(visits=30.0)
    shelf = sensor(ModelId.SHELF_SENSOR_8, sale_rate_per_h=120.0)
    room_events: list[Event] = []
    shelf_events: list[Event] = []
    for step in range(6 * 360):
        now = step * 10.0
        room_events += events(fitting.tick(now))
        if step % 500 == 0:
            room_events += events(fitting.press_help())
        shelf_events += events(shelf.tick(now))
    for found in (room_events, shelf_events):
        ids = [e.event_id for e in found]
        assert len(ids) > 10
        assert all(a < b for a, b in itertools.pairwise(ids))
        assert ids[0] == 1


def test_event_ids_restart_at_one_in_a_new_session() -> None:
    """After a reboot (a new session) the first event has event_id 1 (§8.2)."""
    fitting = room(visits=0.0)
    assert [e.event_id for e in events(fitting.press_help() + fitting.press_help())] == [1, 2]
    fitting.handle(Reboot(txn=1), 10.0)
    assert [e.event_id for e in events(fitting.press_help())] == [1]


def test_telemetry_seq_restarts_at_one_in_a_new_session() -> None:
    """After a reboot the first Telemetry has seq 1 (§8.1)."""
    shelf = sensor(ModelId.SHELF_SENSOR_4)
    assert [t.seq for t in telemetry(shelf.tick(0.0) + shelf.tick(1.0))] == [1, 2]
    shelf.handle(Reboot(txn=1), 2.0)
    assert [t.seq for t in telemetry(shelf.tick(3.0))] == [1]


def test_telemetry_seq_increases_within_a_session() -> None:
    """Within a session each Telemetry's seq is one above the previous one."""
    shelf = sensor(ModelId.SHELF_SENSOR_4)
    seqs = [t.seq for step in range(20) for t in telemetry(shelf.tick(step * 60.0))]
    assert seqs == list(range(1, 21))


@pytest.mark.parametrize("kind", ["shelf", "fitting-room"])
def test_mains_powered_devices_report_battery_zero(kind: str) -> None:
    """Shelf sensors and fitting rooms are mains powered: Birth and Telemetry say battery_mv 0."""
    device = sensor(ModelId.SHELF_SENSOR_4) if kind == "shelf" else room()
    births = [m for m in device.boot(0.0) if isinstance(m, Birth)]
    assert [b.battery_mv for b in births] == [0]
    if isinstance(device, SimShelfSensor):
        assert [t.battery_mv for t in telemetry(device.tick(1.0))] == [0]


# ---- the store ------------------------------------------------------------------------------


def test_build_store_spreads_labels_round_robin_over_access_points() -> None:
    """With access points, labels are dealt round-robin; sensors and rooms are direct gateways."""
    spec = StoreSpec("s1", labels=7, sensors=3, fitting_rooms=2, access_points=3)
    gateways = build_store(spec, Behaviour.instant(), fitting_room_epcs=EPCS)
    by_id = {gw.gateway_id: gw for gw in gateways}
    assert [gw.gateway_id for gw in gateways if gw.is_access_point] == ["ap-01", "ap-02", "ap-03"]
    assert list(by_id["ap-01"].devices) == ["lbl-00001", "lbl-00004", "lbl-00007"]
    assert list(by_id["ap-02"].devices) == ["lbl-00002", "lbl-00005"]
    assert list(by_id["ap-03"].devices) == ["lbl-00003", "lbl-00006"]
    direct = [gw for gw in gateways if not gw.is_access_point]
    assert [gw.gateway_id for gw in direct] == [
        "shelf-001",
        "shelf-002",
        "shelf-003",
        "fit-01",
        "fit-02",
    ]
    for gw in direct:
        assert list(gw.devices) == [gw.gateway_id]
    assert isinstance(by_id["shelf-001"].devices["shelf-001"], SimShelfSensor)
    assert by_id["shelf-003"].devices["shelf-003"].model.lanes == 8
    fitting = by_id["fit-02"].devices["fit-02"]
    assert isinstance(fitting, SimFittingRoom)
    assert fitting.catalogue_epcs == EPCS


def test_build_store_without_access_points_gives_each_label_a_gateway() -> None:
    """Without access points every label is its own direct gateway."""
    gateways = build_store(StoreSpec("s1", labels=4), Behaviour.instant())
    assert [(gw.gateway_id, gw.is_access_point, list(gw.devices)) for gw in gateways] == [
        (f"lbl-{n:05d}", False, [f"lbl-{n:05d}"]) for n in range(1, 5)
    ]


def test_label_mix_only_contains_label_models() -> None:
    """The realistic mix picks only label models, from the mix table, several of them."""
    gateways = build_store(StoreSpec("s1", labels=300, access_points=2), Behaviour.instant())
    labels = [d for gw in gateways for d in gw.devices.values()]
    assert len(labels) == 300
    assert all(isinstance(d, SimLabel) for d in labels)
    assert all(d.model.kind is DeviceKind.LABEL for d in labels)
    used = {d.model.id for d in labels}
    assert used <= {m for m, _ in LABEL_MIX}
    assert len(used) >= 5


def store_fingerprint(gateways: list[Gateway]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for gw in gateways:
        for device in gw.devices.values():
            first = device.tick(0.0)
            rows.append(
                (
                    gw.gateway_id,
                    device.device_id,
                    device.model.id,
                    tuple(first),
                    device.rng.random(),
                )
            )
    return rows


def test_same_seed_gives_same_store() -> None:
    """The same seed and store name build the same devices, models and random streams."""
    spec = StoreSpec("s1", labels=40, sensors=4, fitting_rooms=2, access_points=2)
    first = store_fingerprint(build_store(spec, Behaviour.instant(seed=5), fitting_room_epcs=EPCS))
    second = store_fingerprint(build_store(spec, Behaviour.instant(seed=5), fitting_room_epcs=EPCS))
    assert first == second
    other = store_fingerprint(build_store(spec, Behaviour.instant(seed=6), fitting_room_epcs=EPCS))
    assert other != first
