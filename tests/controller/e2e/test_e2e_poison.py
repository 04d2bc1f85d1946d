"""Issue 12, finding 1 over the real Mosquitto: no single catalog message or stored item stops
the controller; each is dead-lettered or quarantined with its reason and the store goes on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from controller.local_broker import LocalBroker
from controller.service import running_controller
from controller.state.catalog_repo import get_item
from controller.state.database import transaction
from controller.state.devices_repo import device
from controller.state.labels_repo import Priority, label_state
from controller.state.render_queue import enqueue_items, queued
from firmware_protocol.models import ModelId
from tests.support.store_kit import Store, item, settings_for, store_with_labels

ONE_MODEL = (ModelId.EPD290_BWR,)
BIG = 9223372036854775808  # 2**63: one more than SQLite's largest INTEGER


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _statuses(rig: Store, kind: str) -> list[dict[str, Any]]:
    return [body for topic, body in rig.statuses if topic.endswith(f"/{kind}")]


async def _receipts(rig: Store, count: int) -> list[dict[str, Any]]:
    async def arrived() -> bool:
        return len(_statuses(rig, "receipt")) >= count

    await rig.wait_until(arrived, within_s=30, what=f"{count} receipts")
    return _statuses(rig, "receipt")


def _poison() -> list[tuple[str, bytes, str]]:
    """(topic, payload, the start of the dead letter's reason) for each poison message."""
    promo = {"price": "1.00", "starts_at": "2026-01-01T00:00:00+00:00"}
    return [
        ("item/P-VERSION", json.dumps(item("P-VERSION", "9.00", version=BIG)).encode(), "version:"),
        ("delete/P-VERSION", json.dumps({"version": BIG}).encode(), "version:"),
        # json.dumps escapes the lone surrogate as "\ud800": valid JSON, not encodable UTF-8
        ("item/P-NAME", json.dumps(item("P-NAME", "9.00", name="\ud800")).encode(), "name:"),
        (
            "item/P-END",
            json.dumps(
                item("P-END", "9.00", promotion=promo | {"ends_at": "9999-12-31T23:59:59-14:00"})
            ).encode(),
            "promotion.ends_at:",
        ),
        ("item/P-DEEP", _deep(200_000), "payload: 400,000 bytes"),
        ("item/P-NEST", _deep(50_000), "payload: nested 50000 deep"),
        (
            "item/LINKED",
            json.dumps(
                item("LINKED", "9.00", promotion=promo | {"starts_at": "0001-01-01T00:00:00+00:00"})
            ).encode(),
            "promotion.starts_at:",
        ),
        (
            "item/LINKED",
            json.dumps(
                item(
                    "LINKED", "9.00", net_quantity={"value": "0.000000000000000000001", "unit": "g"}
                )
            ).encode(),
            "net_quantity.value:",
        ),
    ]


async def test_finding_1_poison_messages_are_dead_lettered_and_the_controller_goes_on(
    broker: LocalBroker, store_id: str, tmp_path
):
    """Each poison message of finding 1 is acknowledged, receipted and dead-lettered with the
    field and reason (the dead letter encodes, bounded); a linked label keeps its price, and the
    changes published after them still reach the shelf."""
    async with store_with_labels(broker, store_id, tmp_path, labels=1, models=ONE_MODEL) as rig:
        label = rig.labels[0]
        await rig.publish_item(item("LINKED", "12.00", version=1))
        await _receipts(rig, 1)
        await rig.ctl.operations.link(label, "LINKED", actor="test")
        await rig.converged()
        poison = _poison()
        for topic, payload, _ in poison:
            await rig.publish(topic, None, raw=payload)
        await rig.publish_item(item("LINKED", "11.00", version=2))
        receipts = await _receipts(rig, len(poison) + 2)
        letters = _statuses(rig, "dead-letter")
        assert len(letters) == len(poison), [letter["reason"] for letter in letters]
        for topic, _, reason in poison:  # receipts and dead letters may come in another order
            assert any(
                x["topic"].endswith(topic) and x["reason"].startswith(reason) for x in letters
            ), (topic, reason, [x["reason"] for x in letters])
        assert all(len(json.dumps(letter)) < 10_000 for letter in letters)  # bounded
        assert "[truncated" in next(x for x in letters if x["topic"].endswith("P-DEEP"))["original"]
        name_letter = next(x for x in letters if x["topic"].endswith("P-NAME"))
        assert name_letter["original"]["name"] == "\ud800"  # escaped on the wire, not lost
        fix = next(r for r in receipts if r.get("sku") == "LINKED" and r.get("version") == 2)
        assert (fix["accepted"], fix["rejected"]) == (1, 0)
        assert sum(r["rejected"] for r in receipts) == len(poison)
        for sku in ("P-VERSION", "P-NAME", "P-END"):
            assert await get_item(rig.ctl.conn, sku) is None
        await rig.converged()
        stored = await get_item(rig.ctl.conn, "LINKED")
        assert stored is not None
        assert (str(stored.price), stored.version, stored.promotion) == ("11.00", 2, None)
        assert rig.sim.label(label).planes() == await rig.fresh_planes(label)


async def _store_unchecked(rig: Store, body: dict[str, Any]) -> None:
    """An item body written as an older controller stored it, past today's entry bounds."""
    now = datetime.now(UTC)
    async with transaction(rig.ctl.conn):
        await rig.ctl.conn.execute(
            "UPDATE items SET body = ? WHERE sku = ?", (json.dumps(body), body["sku"])
        )
        await enqueue_items(
            rig.ctl.conn, [body["sku"]], priority=Priority.SINGLE, reason="t", at=now
        )
    rig.ctl.wake()


async def test_finding_1_a_stored_item_that_cannot_be_rendered_is_quarantined_across_a_restart(
    broker: LocalBroker, store_id: str, tmp_path
):
    """Items stored before the bounds existed (a promotion from year 1, a net quantity of
    1e-21 g) do not crash the render stage, now or after a restart: their labels get a problem
    with the reason, their queue rows are removed, and the other labels still get new prices."""
    async with store_with_labels(
        broker, store_id, tmp_path, labels=3, models=ONE_MODEL, with_controller=False
    ) as rig:
        settings = settings_for(broker, store_id, rig.db)
        bodies = {
            "OLD-PROMO": item(
                "OLD-PROMO",
                "9.00",
                promotion={"price": "1.00", "starts_at": "0001-01-01T00:00:00+00:00"},
            ),
            "TINY": item("TINY", "129.90", net_quantity={"value": "1E-21", "unit": "g"}),
            "FINE": item("FINE", "9.00"),
        }
        poisoned = rig.labels[:2]
        async with running_controller(settings, workers=1) as controller:
            rig.controller = controller
            await rig.registered()
            for sku, label in zip(bodies, rig.labels, strict=True):
                await rig.publish_item(item(sku, "9.00"))
                await rig.wait_until(lambda s=sku: get_item(controller.conn, s), what=sku)
                await controller.operations.link(label, sku, actor="test")
            await rig.converged()
            await _store_unchecked(rig, bodies["OLD-PROMO"])
            await _store_unchecked(rig, bodies["TINY"])

            async def quarantined() -> bool:
                found = [await device(controller.conn, label) for label in poisoned]
                return all(d is not None and d.problem for d in found)

            await rig.wait_until(quarantined, what="a problem on both poisoned labels")
            await rig.publish_item(item("FINE", "7.50"))
            await rig.converged(rig.labels[2:])
        async with running_controller(settings, workers=1) as controller:
            rig.controller = controller
            await rig.registered()
            # as if the last one had crashed before its round's commit: the rows are queued again
            now = datetime.now(UTC)
            await enqueue_items(
                controller.conn, list(bodies), priority=Priority.SINGLE, reason="t", at=now
            )
            controller.wake()
            await rig.publish_item(item("FINE", "6.25"))

            async def drained() -> bool:
                return await queued(controller.conn) == 0

            await rig.wait_until(drained, what="the render queue to drain")
            await rig.converged(rig.labels[2:])
            for label in poisoned:
                found = await device(controller.conn, label)
                assert found is not None
                assert found.problem is not None
                assert "cannot be shown" in found.problem, found.problem
                state = await label_state(controller.conn, label)
                assert state is not None
                assert state.confirmed  # it keeps showing the image it had
