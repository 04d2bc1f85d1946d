"""The simulated fitting room's RFID tags: SGTIN-96 EPCs of catalog GTINs, read back by the
controller's codec."""

from __future__ import annotations

import random

from controller.demo.catalog import gtin_for
from device_sim.behaviour import Behaviour
from device_sim.fitting_room import SimFittingRoom, catalogue_tags
from firmware_protocol.messages import Event, EventKind, Request
from firmware_protocol.models import ModelId, model
from gs1.epc import FILTER_POS_ITEM, decode_epc, identify

# GTIN-13s as the demo catalog makes them (GS1 Türkiye's 869 range).
GTINS = tuple(gtin_for("869", n) for n in (12345, 12346, 40001))


def test_catalogue_tags_encode_each_gtin_with_distinct_serials() -> None:
    """Each GTIN gets tags_per_gtin POS-filtered SGTIN-96 tags, serials 1..n, all distinct."""
    tags = catalogue_tags(GTINS, 7, tags_per_gtin=4)
    assert len(tags) == len(set(tags)) == 12
    decoded = [decode_epc(tag) for tag in tags]
    assert [(t.gtin, t.serial) for t in decoded] == [
        ("0" + gtin, serial) for gtin in GTINS for serial in range(1, 5)
    ]
    assert {t.filter for t in decoded} == {FILTER_POS_ITEM}
    assert {t.company_prefix for t in decoded} == {"8690000"}
    assert all(tag == tag.upper() and len(tag) == 24 for tag in tags)  # PROTOCOL.md §4.2


def test_items_a_shopper_brings_in_identify_as_catalog_gtins() -> None:
    """Every ITEM_IN and STOCK_QUERY subject a room sends is an EPC of a catalog GTIN-13."""
    room = SimFittingRoom(
        "fit-01",
        model(ModelId.FITTING_ROOM_DISPLAY),
        Behaviour.instant(fitting_visits_per_h=100.0),
        random.Random(3),
        catalogue_epcs=catalogue_tags(GTINS, 7),
    )
    out = [m for step in range(720) for m in room.tick(step * 10.0)]
    subjects = [
        m.subject
        for m in out
        if (isinstance(m, Event) and m.kind is EventKind.ITEM_IN) or isinstance(m, Request)
    ]
    assert len(subjects) >= 10
    assert {identify(subject).gtin13 for subject in subjects} <= set(GTINS)
