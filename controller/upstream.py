"""What the store tells HQ and its own systems: shelf stock changes and alerts, over MQTT on the
controller's catalog session (docs/catalog.md "Stock upstream", docs/alerts.md "The alert topic").

- **Stock**: the rows of stock_upstream (state/stock_repo.py), in sequence, batched: one message
  on `omnishelf/{store}/stock` carries up to BATCH rows, each with its `seq`; at most one message
  every INTERVAL_S (the rate limit: a store's burst of sales becomes one message a second, not a
  storm). A row is marked sent once the broker has acknowledged its message (QoS 1); a message
  that was lost in a crash is sent again with the same numbers, so HQ keeps the first of each
  `seq` and asks for nothing: a gap in `seq` is a loss it can name.
- **Alerts**: each change of an alert (opened, acknowledged, resolved, escalated) is its document
  on `omnishelf/{store}/alerts/{id}`, retained while the alert is unresolved, so that a system
  that subscribes later sees every unresolved alert; a resolved alert's document is sent not
  retained, then its retained document is cleared (an empty retained message). Alert changes
  do not wait for the stock's rate limit: they go at once, in rounds of up to 50.

The work to send is in the database (an outbox); this loop only moves it: a controller that
stops or loses the broker sends it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosqlite

from controller.state.alerts_repo import Alert, AlertState, mark_published, unpublished
from controller.state.stock_repo import (
    UPSTREAM_KEPT_DAYS,
    UpstreamRow,
    mark_upstream_sent,
    unsent_upstream,
)

log = logging.getLogger(__name__)

INTERVAL_S = 1.0  # at most one stock message a second
BATCH = 200  # stock rows per message (~300 bytes each)
ALERTS_PER_ROUND = 50
ALERT_GAP_S = 0.05  # between rounds of alert changes: at most 1,000 a second
VERSION = 1


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None: ...


def stock_topic(store: str) -> str:
    return f"omnishelf/{store}/stock"


def alert_topic(store: str, alert_id: int) -> str:
    return f"omnishelf/{store}/alerts/{alert_id}"


def stock_message(store: str, rows: list[UpstreamRow]) -> bytes:
    """One batch: {"v": 1, "store": ..., "changes": [{"seq": ..., ...}, ...]}, in sequence."""
    changes = [{"seq": row.seq} | row.document for row in rows]
    body: dict[str, Any] = {"v": VERSION, "store": store, "changes": changes}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def alert_message(store: str, alert: Alert) -> bytes:
    body = {"v": VERSION, "store": store} | alert.document()
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class Upstream:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        session: Publisher,
        store: str,
        clock: Callable[[], datetime],
        *,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.conn = conn
        self.session = session
        self.store = store
        self.clock = clock
        self.interval_s = interval_s
        self._stock_kick = asyncio.Event()
        self._alert_kick = asyncio.Event()
        self.sent_stock = 0  # rows
        self.sent_alerts = 0  # documents

    def kick(self) -> None:
        """Something new waits in the outbox: stock rows go with the next message (at most one
        a second), alert changes at once."""
        self._stock_kick.set()
        self._alert_kick.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._loop(self._stock_kick, self.send_stock, self.interval_s))
            tasks.create_task(self._loop(self._alert_kick, self.send_alerts, ALERT_GAP_S))

    async def _loop(
        self, kick: asyncio.Event, send: Callable[[], Awaitable[bool]], gap_s: float
    ) -> None:
        while True:
            # Every few seconds it looks anyway: work left by a failure or an earlier run.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), timeout=max(self.interval_s, gap_s) * 5)
            kick.clear()
            try:
                more = await send()
            except Exception:  # the outbox keeps it: tried again at the next round
                log.exception("upstream: sending failed")
                more = True
            if more:
                kick.set()
            await asyncio.sleep(gap_s)  # the rate limit

    async def send_once(self) -> bool:
        """A message of stock changes and a round of alert changes; True when more wait."""
        stock = await self.send_stock()
        alerts = await self.send_alerts()
        return stock or alerts

    async def send_stock(self) -> bool:
        """One message of up to BATCH stock rows, in sequence; True when more wait."""
        rows = await unsent_upstream(self.conn, BATCH)
        if not rows:
            return False
        await self.session.publish(
            stock_topic(self.store), stock_message(self.store, rows), qos=1, retain=False
        )
        now = self.clock()
        keep_since = now - timedelta(days=UPSTREAM_KEPT_DAYS)
        await mark_upstream_sent(self.conn, [row.seq for row in rows], now, keep_since)
        self.sent_stock += len(rows)
        return len(rows) == BATCH

    async def send_alerts(self) -> bool:
        """Up to ALERTS_PER_ROUND alert changes; True when more wait."""
        alerts = await unpublished(self.conn, ALERTS_PER_ROUND)
        for alert in alerts:
            topic = alert_topic(self.store, alert.id)
            resolved = alert.state is AlertState.RESOLVED
            message = alert_message(self.store, alert)
            await self.session.publish(topic, message, qos=1, retain=not resolved)
            if resolved:
                await self.session.publish(topic, b"", qos=1, retain=True)
        if alerts:
            await mark_published(self.conn, [(a.id, a.version) for a in alerts])
            self.sent_alerts += len(alerts)
        return len(alerts) == ALERTS_PER_ROUND
