"""What store staff do to labels, each in the audit log with who and when.

Link and unlink a label and an item (scanning the label's code and the product's barcode),
relabel (one label, an item's labels, a shelf, the whole store: forced, past the dedup that
normally skips identical content), locate a label by flashing its LED, show another template page,
fast-wake a label so that changes land within seconds, adopt a device. The REST API and the
console call these; they hold no HTTP and no MQTT of their own.

A shelf is named by its location as staff typed it when linking: "Reyon 3 / Raf 2" is aisle /
shelf. Relabelling a location takes the labels of exactly that aisle ("Reyon 1": every shelf of
aisle 1, never aisle 10-15, as the old prefix match did) or that aisle and shelf, compared part
by part with case and spacing ignored (`location_parts`). `relabel_count` says beforehand how
many labels a relabel would take (the console's confirm step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from controller.errors import ControllerError
from controller.fleet import Fleet, is_label
from controller.state.audit_repo import append_audit
from controller.state.catalog_repo import get_item
from controller.state.database import transaction
from controller.state.devices_repo import Binding, bind, binding_of, device, unbind
from controller.state.fleet_repo import adopt
from controller.state.labels_repo import Priority
from controller.state.render_queue import enqueue_labels
from firmware_protocol.messages import CommandResult, FastWake, LedColour, LedFlash, LedPattern
from firmware_protocol.models import ModelId, model
from label_renderer.library import template_names


class OperationRefused(ControllerError):
    """The operation cannot be done as asked; the message says why (shown to staff)."""


class NotFound(OperationRefused):
    """The label or item does not exist."""


def location_parts(location: str) -> tuple[str, ...]:
    """A location's parts ("Reyon 3 / Raf 2" -> ("reyon 3", "raf 2")): case and spacing do not
    matter, empty parts are dropped."""
    return tuple(" ".join(part.split()).casefold() for part in location.split("/") if part.strip())


def aisle_of(locations: Iterable[str]) -> str | None:
    """The aisle of these locations, as first typed ("Reyon 3" of "Reyon 3 / Raf 2" and
    "reyon 3/raf 5"), when they are all in one; None for several aisles or none."""
    aisles: dict[str, str] = {}
    for location in locations:
        parts = location_parts(location)
        if parts:
            typed = next(part for part in location.split("/") if part.strip())
            aisles.setdefault(parts[0], " ".join(typed.split()))
    return next(iter(aisles.values())) if len(aisles) == 1 else None


def at_location(stored: str | None, wanted: tuple[str, ...]) -> bool:
    """A label at `stored` is at the aisle, or aisle and shelf, `wanted` (part by part)."""
    if stored is None or not wanted:
        return False
    return location_parts(stored)[: len(wanted)] == wanted


@dataclass(frozen=True, slots=True)
class RelabelTarget:
    """Exactly one of: labels by id, an item's labels, an aisle or aisle / shelf, everything."""

    device_ids: tuple[str, ...] = ()
    sku: str | None = None
    location: str | None = None
    whole_store: bool = False


class StaffOperations:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        fleet: Fleet,
        *,
        clock: Callable[[], datetime],
        on_work: Callable[[], None],
    ) -> None:
        self.conn = conn
        self.fleet = fleet
        self.clock = clock
        self.on_work = on_work

    async def _label(self, device_id: str) -> int:
        found = await device(self.conn, device_id)
        if found is None:
            raise NotFound(f"no label {device_id!r}")
        if not is_label(found.model):
            raise OperationRefused(f"{device_id} is not a label")
        if not found.adopted:
            raise OperationRefused(f"{device_id} is not adopted by this store")
        return found.model

    async def link(
        self,
        device_id: str,
        sku: str,
        *,
        actor: str,
        template: str | None = None,
        page: int = 1,
        location: str | None = None,
        action: str = "label.link",
    ) -> Binding:
        model_id = await self._label(device_id)
        if await get_item(self.conn, sku) is None:
            raise NotFound(f"no item {sku!r} in the catalog")
        known = template_names(model(ModelId(model_id)))
        if template is not None and template not in known:
            raise OperationRefused(f"template {template!r} unknown; known: {', '.join(known)}")
        if not 1 <= page <= 7:
            raise OperationRefused(f"page {page} is outside 1..7")
        now = self.clock()
        async with transaction(self.conn):
            binding = await bind(
                self.conn,
                device_id,
                sku,
                template=template,
                page=page,
                at=now,
                actor=actor,
                location=location,
            )
            await append_audit(
                self.conn,
                at=now,
                actor=actor,
                action=action,
                target=f"label:{device_id}",
                detail={"sku": sku, "template": template, "page": page, "location": location},
            )
            await enqueue_labels(
                self.conn, [device_id], priority=Priority.STAFF, reason=f"link ({actor})", at=now
            )
        self.on_work()
        return binding

    async def unlink(self, device_id: str, *, actor: str) -> None:
        """Unlink the label; it is blanked, so that it never shows a price nobody maintains."""
        now = self.clock()
        async with transaction(self.conn):
            if not await unbind(self.conn, device_id):
                raise NotFound(f"label {device_id!r} is not linked")
            await append_audit(
                self.conn, at=now, actor=actor, action="label.unlink", target=f"label:{device_id}"
            )
            await enqueue_labels(
                self.conn, [device_id], priority=Priority.STAFF, reason=f"unlink ({actor})", at=now
            )
        self.on_work()

    async def switch_page(self, device_id: str, page: int, *, actor: str) -> Binding:
        """Show another page of the label's template (rendered and confirmed like any image)."""
        current = await binding_of(self.conn, device_id)
        if current is None:
            raise NotFound(f"label {device_id!r} is not linked")
        return await self.link(
            device_id,
            current.sku,
            actor=actor,
            template=current.template,
            page=page,
            action="label.page",
        )

    async def _relabel_targets(self, target: RelabelTarget) -> list[str]:
        """The linked, adopted labels a relabel of `target` takes."""
        chosen = [bool(target.device_ids), target.sku is not None]
        chosen += [target.location is not None, target.whole_store]
        if sum(chosen) != 1:
            raise OperationRefused("relabel needs exactly one of labels, sku, location, store")
        wanted = location_parts(target.location) if target.location is not None else ()
        if target.location is not None and not wanted:
            raise OperationRefused("the location is empty: name an aisle, or aisle / shelf")
        query = "SELECT b.device_id, d.location FROM bindings b JOIN devices d USING (device_id)"
        query += " WHERE d.adopted = 1"
        params: tuple[str, ...] = ()
        if target.device_ids:
            marks = ",".join("?" * len(target.device_ids))
            query += f" AND b.device_id IN ({marks})"
            params = target.device_ids
        elif target.sku is not None:
            query, params = query + " AND b.sku = ?", (target.sku,)
        elif wanted:
            query += " AND d.location IS NOT NULL"
        async with self.conn.execute(query, params) as cursor:
            rows = await cursor.fetchall()
        if wanted:
            return [row[0] for row in rows if at_location(row[1], wanted)]
        return [row[0] for row in rows]

    async def relabel_count(self, target: RelabelTarget) -> int:
        """How many labels `relabel(target)` would take now (nothing is queued)."""
        return len(await self._relabel_targets(target))

    async def relabel(self, target: RelabelTarget, *, actor: str) -> int:
        """Render and push again, even identical content; returns how many labels."""
        devices = await self._relabel_targets(target)
        if target.device_ids and len(devices) != len(set(target.device_ids)):
            missing = sorted(set(target.device_ids) - set(devices))
            raise NotFound(f"not linked or not adopted: {', '.join(missing)}")
        now = self.clock()
        scope = (
            f"label:{','.join(target.device_ids)}"
            if target.device_ids
            else f"item:{target.sku}"
            if target.sku
            else f"shelf:{target.location}"
            if target.location is not None
            else "store"
        )
        async with transaction(self.conn):
            await enqueue_labels(
                self.conn,
                devices,
                priority=Priority.STAFF,
                reason=f"relabel ({actor})",
                at=now,
                force=True,
            )
            await append_audit(
                self.conn,
                at=now,
                actor=actor,
                action="label.relabel",
                target=scope,
                detail={"labels": len(devices)},
            )
        self.on_work()
        return len(devices)

    async def locate(
        self,
        device_id: str,
        *,
        actor: str,
        seconds: int = 30,
        colour: LedColour = LedColour.GREEN,
        wait_s: float = 5.0,
    ) -> CommandResult | None:
        """Flash the label's LED; the result, or None if it did not answer within `wait_s`."""
        await self._label(device_id)
        await self._audit_command(device_id, "label.locate", actor, {"seconds": seconds})
        return await self.fleet.command(
            device_id,
            lambda txn: LedFlash(txn, colour, LedPattern.BLINK_FAST, seconds),
            wait_s,
        )

    async def fast_wake(
        self, device_id: str, *, actor: str, seconds: int = 300, interval_ms: int = 1000
    ) -> CommandResult | None:
        await self._label(device_id)
        detail = {"seconds": seconds, "interval_ms": interval_ms}
        await self._audit_command(device_id, "label.fast_wake", actor, detail)
        return await self.fleet.command(
            device_id, lambda txn: FastWake(txn, seconds, interval_ms), 5.0
        )

    async def adopt(self, device_id: str, *, actor: str) -> None:
        now = self.clock()
        async with transaction(self.conn):
            if not await adopt(self.conn, device_id):
                raise NotFound(f"no device {device_id!r} has been seen")
            await append_audit(
                self.conn, at=now, actor=actor, action="device.adopt", target=f"device:{device_id}"
            )

    async def _audit_command(
        self, device_id: str, action: str, actor: str, detail: dict[str, int]
    ) -> None:
        async with transaction(self.conn):
            await append_audit(
                self.conn,
                at=self.clock(),
                actor=actor,
                action=action,
                target=f"label:{device_id}",
                detail=detail,
            )
