"""What a batch of device messages says, recorded as one unit of work (state/units.py).

The device-message path (controller/device_intake.py) admits each message (gateway trust),
turns it into a plain fact and hands a run of facts to `record_device_facts`, which runs on the
database's thread in one transaction: a store's birth storm costs one hop per batch, not one per
statement. The unit decides only what the database can decide; what needs the network (a
Rebirth request, deleting a moved label's retained documents, a corrective push's problem and
log line) is returned as data and done by the async code after the commit (controller/fleet.py).

Births are written in bulk: a run of births of distinct devices is one SELECT of what is stored
and one executemany of the upsert (fleet_repo.BIRTH_UPSERT). The rules stay those of
state/fleet_repo.py and PROTOCOL.md §4.6:
- a replayed (retained) Birth counts only if its session is not older than the one stored; a
  live one always counts (a lower session is a device that restarted its counter);
- a device that changes kind (a label now born as an access point) is adopted anew by the
  allowlist of its new kind, never by its old adoption;
- an access point born directly makes the devices behind it that are alive reachable again;
- an adopted label's Birth says what it shows: judged like a report (revisions_repo), recorded
  when credible (authoritative: even older than a report seen before), and the label is caught
  up (queued for rendering if it has no image yet, its push made due if it shows another one).
A second Birth of a device already in the run, or any other message of a device in the run,
ends the run first, so facts of one device keep their order. Facts of different devices commute
(a Death of an access point and a Birth behind it give the same rows in either order).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from controller.state.database import in_chunks
from controller.state.devices_repo import is_access_point
from controller.state.fleet_repo import (
    BIRTH_UPSERT,
    BirthFacts,
    alive,
    birth_row,
    death,
    devices_behind_back,
    telemetry,
)
from controller.state.labels_repo import Priority, push_due_now, store_reports
from controller.state.render_queue import queue_renders
from controller.state.revisions_repo import ReportFacts, read_report_facts
from firmware_protocol.models import DeviceKind, ModelId

_NO_FACTS = ReportFacts(0, None, 0, None)  # a label without state: only the range is checked


@dataclass(frozen=True, slots=True)
class Born:
    device_id: str
    facts: BirthFacts
    replayed: bool  # a retained Birth replayed at subscribe time
    adopt: bool  # the allowlist of its kind names it
    displayed_revision: int
    displayed_hash: bytes


@dataclass(frozen=True, slots=True)
class Died:
    device_id: str
    session: int


@dataclass(frozen=True, slots=True)
class Measured:
    device_id: str
    battery_mv: int
    rssi: int


@dataclass(frozen=True, slots=True)
class Seen:
    """Any other message: the device is alive."""

    device_id: str


DeviceFact = Born | Died | Measured | Seen


@dataclass(frozen=True, slots=True)
class Registered:
    """An accepted Birth and what the async code must do about it."""

    index: int  # the fact's position in the unit's input
    device_id: str
    gateway_id: str
    model: int
    adopted: bool
    previous_gateway: str | None  # None: it was not registered
    previous_model: int | None
    changed_kind: bool
    replayed: bool
    doubted: str | None  # an adopted label's Birth claims an image not believed: why
    caught_up: bool  # a linked label: its render or push was queued


@dataclass(frozen=True, slots=True)
class FactsOutcome:
    registered: tuple[Registered, ...]
    unknown: tuple[int, ...]  # positions of facts from devices not registered (ask a Rebirth)


def record_device_facts(
    db: sqlite3.Connection, facts: Sequence[DeviceFact], at: datetime
) -> FactsOutcome:
    """The unit: record `facts` in order; returns what to do after the commit."""
    registered: list[Registered] = []
    unknown: list[int] = []
    run: list[tuple[int, Born]] = []
    in_run: set[str] = set()
    for index, fact in enumerate(facts):
        if fact.device_id in in_run:
            registered += _births(db, run, at)
            run, in_run = [], set()
        if isinstance(fact, Born):
            run.append((index, fact))
            in_run.add(fact.device_id)
        elif isinstance(fact, Died):
            death(db, fact.device_id, fact.session, at)
        elif isinstance(fact, Measured):
            if not telemetry(db, fact.device_id, battery_mv=fact.battery_mv, rssi=fact.rssi, at=at):
                unknown.append(index)
        elif not alive(db, fact.device_id, at):
            unknown.append(index)
    registered += _births(db, run, at)
    return FactsOutcome(tuple(registered), tuple(unknown))


def _is_label(model: int) -> bool:
    try:
        return ModelId(model).kind is DeviceKind.LABEL
    except ValueError:
        return False


def _births(db: sqlite3.Connection, run: list[tuple[int, Born]], at: datetime) -> list[Registered]:
    """A run of Births of distinct devices: one SELECT, one executemany, then the labels."""
    if not run:
        return []
    stored: dict[str, sqlite3.Row] = {}
    for part, marks in in_chunks([born.device_id for _, born in run]):
        for row in db.execute(
            "SELECT device_id, model, gateway_id, adopted, session FROM devices"  # noqa: S608
            f" WHERE device_id IN ({marks})",
            part,
        ).fetchall():
            stored[row[0]] = row
    rows: list[tuple[object, ...]] = []
    accepted: list[tuple[int, Born, sqlite3.Row | None, bool, bool]] = []
    for index, born in run:
        old = stored.get(born.device_id)
        if born.replayed and old is not None and born.facts.session < old["session"]:
            continue  # an older retained Birth (the label moved on, §4.6)
        changed_kind = old is not None and is_access_point(old["model"]) != is_access_point(
            born.facts.model
        )
        adopted = born.adopt if old is None or changed_kind else born.adopt or bool(old["adopted"])
        rows.append(
            birth_row(born.device_id, born.facts, at, adopt=born.adopt, reset_adoption=changed_kind)
        )
        accepted.append((index, born, old, changed_kind, adopted))
    db.executemany(BIRTH_UPSERT, rows)
    for _, born, _, _, _ in accepted:
        if born.facts.gateway_id == born.device_id and is_access_point(born.facts.model):
            devices_behind_back(db, born.device_id, at)
    labels = [
        born for _, born, _, _, adopted in accepted if adopted and _is_label(born.facts.model)
    ]
    doubted, caught_up = _labels_born(db, labels, at)
    return [
        Registered(
            index=index,
            device_id=born.device_id,
            gateway_id=born.facts.gateway_id,
            model=born.facts.model,
            adopted=adopted,
            previous_gateway=None if old is None else old["gateway_id"],
            previous_model=None if old is None else old["model"],
            changed_kind=changed_kind,
            replayed=born.replayed,
            doubted=doubted.get(born.device_id),
            caught_up=born.device_id in caught_up,
        )
        for index, born, old, changed_kind, adopted in accepted
    ]


def _labels_born(
    db: sqlite3.Connection, labels: list[Born], at: datetime
) -> tuple[dict[str, str], set[str]]:
    """What adopted labels' Births say they show, judged and recorded; the linked ones caught
    up. Returns the doubted (device -> why) and the caught-up labels."""
    if not labels:
        return {}, set()
    facts = read_report_facts(db, [(b.device_id, b.displayed_revision) for b in labels])
    doubted: dict[str, str] = {}
    credible: list[Born] = []
    for born in labels:
        known = facts.get(born.device_id, _NO_FACTS)
        why = known.doubt(born.displayed_revision, born.displayed_hash)
        if why is None:
            credible.append(born)
        else:
            doubted[born.device_id] = why
    store_reports(
        db,
        [(b.device_id, b.displayed_revision, b.displayed_hash) for b in credible],
        at,
        authoritative=True,
    )
    desired: dict[str, bytes | None] = {}  # linked labels -> their desired image's hash
    for part, marks in in_chunks([b.device_id for b in credible]):
        for row in db.execute(
            "SELECT b.device_id, s.desired_hash FROM bindings b"  # noqa: S608
            f" LEFT JOIN label_state s USING (device_id) WHERE b.device_id IN ({marks})",
            part,
        ).fetchall():
            desired[row[0]] = row[1]
    to_render = [
        b.device_id for b in credible if b.device_id in desired and desired[b.device_id] is None
    ]
    to_push = [
        b.device_id
        for b in credible
        if desired.get(b.device_id) is not None and desired[b.device_id] != b.displayed_hash
    ]
    queue_renders(db, to_render, priority=Priority.SINGLE, reason="birth", at=at)
    push_due_now(db, to_push, at)
    return doubted, set(desired)
