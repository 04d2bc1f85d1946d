"""Events, telemetry gaps and images a label cannot hold, over the real Mosquitto (issue 13, D3
and D4; PROTOCOL.md §8.1, §8.2, §4.7): a device written from the document, as a raw client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiomqtt

from broker_access.credentials import client_password
from controller.local_broker import LocalBroker
from controller.state.devices_repo import device
from controller.state.labels_repo import label_state
from firmware_protocol.codec import decode, encode
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Desired,
    Event,
    EventKind,
    Message,
    Rebirth,
    Telemetry,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion
from tests.support.running import running
from tests.support.store_kit import Store, item, store_with_labels

QUIET_S = 1.0  # after the controller handled the last message, time for a Rebirth to show up


@dataclass
class Device:
    """A label on its own (direct, no access point), reading its own down subtree."""

    client: aiomqtt.Client
    address: DeviceAddress
    received: list[Message] = field(default_factory=list)

    async def send(self, msg: Message, *, retain: bool = False) -> None:
        await self.client.publish(self.address.topic(msg.OPCODE), encode(msg), qos=1, retain=retain)

    async def born(self, session: int) -> None:
        version = FirmwareVersion(1, 0, 0)
        birth = Birth(session, ModelId.EPD213_BWR, version, 4096, 3000, 0, 2, 0, NO_HASH, 0)
        await self.send(birth, retain=True)

    def rebirths(self) -> int:
        return sum(isinstance(m, Rebirth) for m in self.received)


@contextlib.asynccontextmanager
async def raw_device(broker: LocalBroker, store: str, device_id: str) -> AsyncIterator[Device]:
    broker.add_clients([device_id])
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=device_id,
        username=device_id,
        password=client_password(broker.store_secret, device_id),
    )
    found = Device(client, DeviceAddress(store, device_id, device_id))

    async def listen() -> None:
        async for message in client.messages:
            if isinstance(message.payload, bytes) and message.payload:
                found.received.append(decode(message.payload))

    async with client:
        await client.subscribe(f"os1/{store}/down/{device_id}/#", qos=1)
        async with running(listen()):
            yield found


async def registered(rig: Store, device_id: str) -> None:
    async def known() -> bool:
        found = await device(rig.ctl.conn, device_id)
        return found is not None and found.online

    await rig.wait_until(known, what=f"{device_id} registered")


def collect_events(rig: Store) -> list[tuple[str, int]]:
    handled: list[tuple[str, int]] = []

    async def on_event(address: DeviceAddress, event: Event) -> None:
        handled.append((address.device, event.event_id))

    rig.ctl.fleet.on_device_event = on_event
    return handled


async def test_telemetry_gaps_of_5_and_10_ask_for_no_rebirth(broker, store_id, tmp_path):
    """Telemetry seq 1, 6, 16, 19 (gaps of 5, 10 and 3) is recorded and asks for no Rebirth."""
    async with (
        store_with_labels(broker, store_id, tmp_path, labels=1) as rig,
        raw_device(broker, store_id, "lbl-07001") as label,
    ):
        await label.born(1)
        await registered(rig, "lbl-07001")
        for seq, battery in ((1, 3001), (6, 3002), (16, 3003), (19, 3004)):
            await label.send(Telemetry(seq, battery, -60, 215))

        async def last_recorded() -> bool:
            found = await device(rig.ctl.conn, "lbl-07001")
            return found is not None and found.battery_mv == 3004

        await rig.wait_until(last_recorded, what="the last telemetry recorded")
        await asyncio.sleep(QUIET_S)
        assert label.rebirths() == 0


async def test_event_gaps_ask_for_one_rebirth_per_device(broker, store_id, tmp_path, caplog):
    """Events 1, 4, 5, 6, 9 from each of two labels are all handled and logged; the gaps 1->4
    and 6->9 ask each label for exactly one Rebirth (one per device per 60 s)."""
    caplog.set_level(logging.INFO, logger="controller.fleet")
    async with (
        store_with_labels(broker, store_id, tmp_path, labels=1) as rig,
        raw_device(broker, store_id, "lbl-07002") as first,
        raw_device(broker, store_id, "lbl-07003") as second,
    ):
        handled = collect_events(rig)
        for label in (first, second):
            await label.born(1)
            await registered(rig, label.address.device)
        for event_id in (1, 4, 5, 6, 9):
            for label in (first, second):
                await label.send(Event(event_id, EventKind.BUTTON_PRESS, "shelf 4\nforged line"))

        async def all_handled() -> bool:
            return len(handled) == 10

        await rig.wait_until(all_handled, what="ten events handled")
        for label in (first, second):

            async def asked(label: Device = label) -> bool:
                return label.rebirths() >= 1

            await rig.wait_until(asked, what=f"a Rebirth for {label.address.device}")
        await asyncio.sleep(QUIET_S)
        assert (first.rebirths(), second.rebirths()) == (1, 1)
        assert [e for d, e in handled if d == "lbl-07002"] == [1, 4, 5, 6, 9]
        assert [e for d, e in handled if d == "lbl-07003"] == [1, 4, 5, 6, 9]
        lines = [r.getMessage() for r in caplog.records if r.name == "controller.fleet"]
        logged = [line for line in lines if "lbl-07002: event 4 BUTTON_PRESS" in line]
        assert len(logged) == 1
        assert "'shelf 4\\nforged line'" in logged[0]


async def test_duplicates_are_ignored_and_a_new_session_starts_over(broker, store_id, tmp_path):
    """Repeated event ids are dropped; a Rebirth's Birth (same session) keeps counting; a Birth
    with a higher session expects event 1 again. No gap, so no Rebirth."""
    async with (
        store_with_labels(broker, store_id, tmp_path, labels=1) as rig,
        raw_device(broker, store_id, "lbl-07004") as label,
    ):
        handled = collect_events(rig)
        await label.born(1)
        await registered(rig, "lbl-07004")
        for event_id in (1, 2, 2, 1, 3):
            await label.send(Event(event_id, EventKind.ITEM_IN, f"tag {event_id}"))
        await label.born(1)  # answers a Rebirth: the count goes on
        for event_id in (3, 4):
            await label.send(Event(event_id, EventKind.ITEM_IN, f"tag {event_id}"))
        await label.born(2)  # rebooted: a new session
        for event_id in (1, 2, 2):
            await label.send(Event(event_id, EventKind.ITEM_OUT, f"tag {event_id}"))
        await label.send(Telemetry(1, 3100, -50, 200))  # a marker: everything before is handled

        async def marker() -> bool:
            found = await device(rig.ctl.conn, "lbl-07004")
            return found is not None and found.battery_mv == 3100

        await rig.wait_until(marker, what="the messages handled")
        await asyncio.sleep(QUIET_S)
        assert [e for _, e in handled] == [1, 2, 3, 4, 1, 2]
        assert label.rebirths() == 0


async def test_too_large_fails_at_once_without_a_new_offer(broker, store_id, tmp_path):
    """A label answering an offer with TOO_LARGE gets a problem naming the revision, and the
    revision is not offered again (no full re-offer, the push parked)."""
    async with (
        store_with_labels(broker, store_id, tmp_path, labels=1) as rig,
        raw_device(broker, store_id, "lbl-07005") as label,
    ):
        await label.born(1)
        await registered(rig, "lbl-07005")
        await rig.publish_item(item("TL-1", "9.90"))

        async def stored() -> bool:
            async with rig.ctl.conn.execute("SELECT 1 FROM items WHERE sku = 'TL-1'") as cur:
                return await cur.fetchone() is not None

        await rig.wait_until(stored, what="the item stored")
        await rig.ctl.operations.link("lbl-07005", "TL-1", actor="test")

        def offers() -> list[Desired]:
            return [m for m in label.received if isinstance(m, Desired)]

        async def offered() -> bool:
            return bool(offers())

        await rig.wait_until(offered, what="an offer")
        first = offers()[0]
        refusal = XferRequest(first.revision, first.xfer_id, XferReason.TOO_LARGE, NO_HASH, b"")
        await label.send(refusal)
        expected = f"could not take revision {first.revision}: TOO_LARGE"

        async def failed() -> bool:
            found = await device(rig.ctl.conn, "lbl-07005")
            return found is not None and found.problem == expected

        await rig.wait_until(failed, what="the problem recorded")
        await asyncio.sleep(2 * QUIET_S)
        assert [d.xfer_id for d in offers()] == [first.xfer_id]
        async with rig.ctl.conn.execute(
            "SELECT next_attempt_at FROM outbox WHERE device_id = 'lbl-07005'"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        assert datetime.fromisoformat(row[0]) > rig.ctl.clock() + timedelta(days=1)
        state = await label_state(rig.ctl.conn, "lbl-07005")
        assert state is not None
        assert state.desired_revision == first.revision
