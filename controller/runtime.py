"""The running controller: the MQTT sessions, the pipeline stages and the device registry, wired
together and run as one TaskGroup of named tasks.

Incoming topics go through one routing table: catalog topics to the ingest, device channels to
the fleet (births, deaths, telemetry, events, results) and the push stage (reports, transfer
requests). Events are checked for duplicates and gaps by the fleet (controller/device_events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiosqlite

from broker_access.credentials import catalog_user, client_password, controller_user
from controller.catalog.feed import Delete, Upsert
from controller.catalog.labels import StoreContext
from controller.convergence_log import ConvergenceLog
from controller.device_intake import URGENT_CHANNELS, DeviceIntake
from controller.device_link.process import DeviceLinkProcess, Urgent
from controller.fitting_rooms import FittingRooms
from controller.fleet import Fleet
from controller.link import Incoming, MqttSession, SessionConfig
from controller.operations import StaffOperations
from controller.pipeline.ingest import ChangeResult, apply_changes, changes_priority
from controller.pipeline.intake import CatalogIntake
from controller.pipeline.push_stage import PushStage
from controller.pipeline.render_stage import PreparedRound, RenderStage
from controller.pipeline.schedule import switch_due_promotions
from controller.settings import Settings
from controller.shelf_service import POLL_S as SHELF_POLL_S
from controller.shelf_service import ShelfService
from controller.state.labels_repo import Priority
from controller.state.stock_repo import StockOutcome
from controller.upstream import Upstream
from firmware_protocol.messages import Event, EventKind
from firmware_protocol.topics import (
    DeviceAddress,
    controller_subscription,
)
from label_renderer.batch import BatchRenderer

log = logging.getLogger(__name__)

POLL_S = 1.0  # also picks up work written by another process (omnishelf import)
SETTLE_S = 0.01  # a burst of work (a store's births) is gathered into one round ...
SETTLE_MAX_S = 0.1  # ... but never held back longer than this
CATALOG_CONCURRENCY = 4  # catalog messages stored while an earlier batch is (pipeline/intake.py)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Controller:
    def __init__(
        self,
        settings: Settings,
        conn: aiosqlite.Connection,
        renderer: BatchRenderer,
        *,
        clock: Callable[[], datetime] = utc_now,
        reader: aiosqlite.Connection | None = None,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.clock = clock
        self.store = settings.store_id
        broker = settings.broker_address()
        secret = settings.secret()
        devices_user, catalog = controller_user(self.store), catalog_user(self.store)
        devices_config = SessionConfig(
            broker,
            devices_user,
            devices_user,
            client_password(secret, devices_user),
            # The push stage's senders bound what is in flight (SENDERS batches of about
            # SEND_BATCH_MESSAGES); a paho window on top cost a rescan at every PUBACK.
            max_inflight=0,
        )
        devices_topics = {controller_subscription(self.store): 1}
        self.devices_link: MqttSession | DeviceLinkProcess
        if settings.device_link_process:
            self.devices_link = DeviceLinkProcess(
                devices_config,
                devices_topics,
                self._on_device_messages,
                urgent=Urgent(URGENT_CHANNELS, self._on_urgent_device_messages),
            )
        else:
            self.devices_link = MqttSession(
                devices_config, devices_topics, self._on_device_messages
            )
        self.catalog_link = MqttSession(
            SessionConfig(
                broker,
                catalog,
                catalog,
                client_password(secret, catalog),
                persistent=True,
                manual_ack=True,
                concurrency=CATALOG_CONCURRENCY,
            ),
            {f"omnishelf/{self.store}/catalog/#": 1},
            self._on_catalog_messages,
        )
        self.intake = CatalogIntake(
            self.store,
            conn,
            lambda changes, priority: self.apply(changes, actor="hq", priority=priority),
            self.devices_link,
        )
        context = StoreContext(self.store, settings.locale, base_url=settings.public_url)
        self.render_stage = RenderStage(conn, renderer, context, clock=clock, reader=reader)
        self.push_stage = PushStage(
            conn,
            self.devices_link,
            self.store,
            clock=clock,
            max_attempts=settings.max_push_attempts,
            reader=reader,
        )
        self.fleet = Fleet(
            conn,
            self.devices_link,
            self.push_stage,
            clock=clock,
            adopt_patterns=settings.adopt,
            adopt_access_points=settings.adopt_access_points,
            on_work=self.wake,
        )
        self.operations = StaffOperations(conn, self.fleet, clock=clock, on_work=self.wake)
        self._render_kick = asyncio.Event()
        self._urgent = asyncio.Event()  # work that goes before bulk rounds was queued
        self._push_kick = asyncio.Event()
        self.upstream = Upstream(conn, self.catalog_link, self.store, clock)
        self.shelves = ShelfService(conn, clock, on_recorded=self._on_stock_recorded)
        self.rooms = FittingRooms(
            conn,
            self.devices_link,
            clock,
            locale=settings.locale,
            reader=reader,
            escalate_after_s=settings.help_escalate_after_s,
            on_alerts=self.alerts_changed,
        )
        self.fleet.on_device_event = self._on_device_event
        self.device_intake = DeviceIntake(
            self.fleet,
            self.push_stage,
            on_settled=self._push_kick.set,
            shelves=self.shelves,
            rooms=self.rooms,
        )
        self.push_stage.on_drained = self._push_kick.set
        self.ready = asyncio.Event()

    def wake(self) -> None:
        """New work for the render and push stages (they also poll, for other processes):
        staff operations and devices' births, which go before bulk work."""
        self._urgent.set()
        self._render_kick.set()
        self._push_kick.set()

    def _on_stock_recorded(self, outcome: StockOutcome) -> None:
        """Shelf counts and alerts were recorded: HQ and the store's systems hear of them, the
        labels of items whose shelf state changed are re-rendered (their badge)."""
        self.alerts_changed()
        if outcome.relabelled:
            self.wake()

    def alerts_changed(self) -> None:
        """Stock rows or alert changes wait in the outbox (staff acknowledged, say)."""
        self.upstream.kick()

    async def run(self) -> None:
        await self.shelves.load()  # the persisted tares, before the first report is fed
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.devices_link.run(), name="mqtt-devices")
            tasks.create_task(self.catalog_link.run(), name="mqtt-catalog")
            tasks.create_task(self._render_loop(), name="render")
            tasks.create_task(self._push_loop(), name="push")
            tasks.create_task(self._schedule_loop(), name="promotions")
            tasks.create_task(self._shelf_loop(), name="shelves")
            tasks.create_task(self.upstream.run(), name="upstream")
            # "converging: 4,000 / 20,000 labels confirmed, ~45 s left" (one count query a line)
            tasks.create_task(ConvergenceLog(self.render_stage.reader).run(), name="convergence")
            for i in range(self.push_stage.senders):
                tasks.create_task(self.push_stage.send_forever(), name=f"send-{i}")
            await self.devices_link.connected.wait()
            await self.catalog_link.connected.wait()
            self.ready.set()

    # ---- loops --------------------------------------------------------------------------------

    async def _wait(self, kick: asyncio.Event, seconds: float) -> None:
        """Until new work arrives (or `seconds` pass), then until it stops arriving for a moment.

        Each round costs a few milliseconds whatever its size (a database transaction, a trip to
        the render processes), so a burst of 1,000 births makes a few large rounds instead of
        1,000 small ones, for at most SETTLE_MAX_S of added latency.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(kick.wait(), seconds)
        deadline = time.monotonic() + SETTLE_MAX_S
        while kick.is_set() and time.monotonic() < deadline:
            kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), SETTLE_S)
        kick.clear()

    async def _render_loop(self) -> None:
        """Rounds overlap: while one round is in the render processes, the next one is read
        from the database and the one rendered before is planned, so that the processes do not
        wait for the database (a label is never in two rounds at once)."""
        stage = self.render_stage
        async with asyncio.TaskGroup() as tasks:
            rendering: asyncio.Task[PreparedRound] | None = None
            in_flight: frozenset[str] = frozenset()
            while True:
                prepared = await stage.prepare(in_flight)
                if rendering is None:
                    if prepared is None:
                        await self._wait(self._render_kick, POLL_S)
                    else:
                        rendering = tasks.create_task(stage.render(prepared), name="render-round")
                        in_flight = prepared.device_ids
                    continue
                rendered = await rendering
                rendering, in_flight = None, frozenset()
                if prepared is not None and self._urgent.is_set() and prepared.bulk:
                    # A staff or single change arrived after this bulk round was read: read
                    # again, so that it goes first (its rows are still queued, nothing is lost).
                    self._urgent.clear()
                    prepared = await stage.prepare(rendered.device_ids)
                if prepared is not None:
                    rendering = tasks.create_task(stage.render(prepared), name="render-round")
                    in_flight = prepared.device_ids
                if (await stage.finish(rendered)).planned:
                    self._push_kick.set()

    async def _push_loop(self) -> None:
        while True:
            await self.push_stage.run_round()
            await self._wait(self._push_kick, POLL_S / 2)

    async def _schedule_loop(self) -> None:
        while True:
            if await switch_due_promotions(self.conn, self.clock()):
                self._render_kick.set()
            await asyncio.sleep(POLL_S)

    async def _shelf_loop(self) -> None:
        """Silent sensors go offline; unanswered help in fitting rooms is escalated."""
        while True:
            await asyncio.sleep(SHELF_POLL_S)
            try:
                await self.shelves.poll()
            except Exception:  # a failed write is tried again with the next poll's events
                log.exception("shelves: poll failed")
            try:
                await self.rooms.escalate()
            except Exception:
                log.exception("fitting rooms: escalation failed")

    # ---- catalog ------------------------------------------------------------------------------

    async def apply(
        self, changes: list[Upsert | Delete], *, actor: str, priority: Priority | None = None
    ) -> list[ChangeResult]:
        """Store catalog changes durably and start their labels on the way."""
        results = await apply_changes(
            self.conn, changes, actor=actor, at=self.clock(), priority=priority
        )
        if (priority if priority is not None else changes_priority(changes)) < Priority.BULK:
            self._urgent.set()
        self._render_kick.set()
        return results

    async def _on_catalog_messages(self, batch: list[Incoming]) -> None:
        await self.intake.on_messages(batch)

    # ---- devices ------------------------------------------------------------------------------

    async def _on_device_event(self, address: DeviceAddress, event: Event) -> None:
        """A device's new event (controller/fleet.py): a shelf's or a fitting room's."""
        if event.kind is EventKind.LANE_EMPTY:
            self.shelves.on_lane_empty(address.device, event.subject)
        else:
            await self.rooms.on_event(address, event)

    async def _on_device_messages(self, batch: list[Incoming]) -> None:
        """A batch in a few units of work, reports first (controller/device_intake.py)."""
        await self.device_intake.on_messages(batch)

    async def _on_urgent_device_messages(self, batch: list[Incoming]) -> list[Incoming]:
        """Rooms' requests and telemetry, beside the bulk; returns what goes to the bulk."""
        return await self.device_intake.on_urgent(batch)
