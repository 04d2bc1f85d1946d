"""Who may speak for a device (PROTOCOL.md §2.6): the gateway segment of a topic is trusted only
as far as the registry allows.

The broker binds the gateway segment to the MQTT identity (ACL `os1/+/up/%u/#`), so the gateway
of a message is authenticated; the device segment is not: any client can write any device id
under its own subtree. The rules, for a message about device X carried by gateway G:
- G == X: a device speaks for itself. Always heard: its Birth registers it (or moves it to be
  its own gateway).
- G is a trusted access point: registered with model kind ACCESS_POINT, connected directly (its
  own gateway) and adopted — by an admin, or by OMNISHELF_ADOPT_ACCESS_POINTS at its first
  birth, never by the labels' OMNISHELF_ADOPT. Its Birth for X registers X behind it, or moves
  X there from another gateway (roaming between access points).
- Any other message (Reported, Death, telemetry, transfer requests, results) counts only from
  X's current gateway, the one of its latest accepted Birth: from anywhere else it is stale (a
  late message of the access point X left) or forged.
A refused message is dropped before it touches the registry: counted per gateway, logged at
most once a minute per gateway, and a registered gateway that keeps doing it gets a problem
(written at most once per PROBLEM_INTERVAL_S). So 2,000 forged births cost 2,000 counter
increments and a few log lines, not 2,000 rows.

What this cannot stop: a trusted access point that is compromised can claim any label (the ACL
cannot say which labels an access point carries). docs/security.md lists that risk.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import aiosqlite

from controller.state.devices_repo import devices_by_id, is_access_point
from controller.state.fleet_repo import set_problem
from firmware_protocol.topics import DeviceAddress

log = logging.getLogger(__name__)

TRUST_CACHE_S = 5.0  # an admin's adoption of an access point takes effect within this
LOG_INTERVAL_S = 60.0
PROBLEM_AFTER = 3  # refusals before a registered gateway gets a problem
PROBLEM_INTERVAL_S = 600.0
SPOOF_PROBLEM = "spoke for devices it does not carry"
UNADOPTED_PROBLEM = "an access point not adopted carries devices; adopt it to manage them"

T = TypeVar("T")


@dataclass(slots=True)
class _Refusals:
    total: int = 0
    since_log: int = 0
    since_problem: int = 0
    since_asked: int = 0
    logged_at: float | None = None
    problem_at: float | None = None


class GatewayTrust:
    """The registry's answer to "may this gateway speak for this device?", cached briefly."""

    def __init__(self, conn: aiosqlite.Connection, *, clock: Callable[[], datetime]) -> None:
        self.conn = conn
        self.clock = clock
        self._access_points: dict[str, tuple[bool, float]] = {}  # gateway -> (trusted, until)
        self._home: dict[str, str] = {}  # device -> its current gateway, as registered
        self._refusals: dict[str, _Refusals] = {}
        self.refused: Counter[str] = Counter()  # per channel, for tests and metrics
        self.stale = 0

    # ---- what the registry says ---------------------------------------------------------------

    async def trusted_access_point(self, gateway_id: str) -> bool:
        cached = self._access_points.get(gateway_id)
        now = time.monotonic()
        if cached is not None and now < cached[1]:
            return cached[0]
        found = (await devices_by_id(self.conn, [gateway_id])).get(gateway_id)
        trusted = (
            found is not None
            and found.adopted
            and found.gateway_id == gateway_id
            and is_access_point(found.model)
        )
        self._access_points[gateway_id] = (trusted, now + TRUST_CACHE_S)
        return trusted

    async def homes(self, device_ids: Sequence[str]) -> dict[str, str]:
        """The current gateway of each registered device among `device_ids`."""
        missing = [d for d in dict.fromkeys(device_ids) if d not in self._home]
        if missing:
            for device_id, found in (await devices_by_id(self.conn, missing)).items():
                self._home[device_id] = found.gateway_id
        return {d: self._home[d] for d in device_ids if d in self._home}

    def registered(self, device_id: str, gateway_id: str, model: int) -> None:
        """A Birth was accepted: the device is now carried by `gateway_id`."""
        self._home[device_id] = gateway_id
        if is_access_point(model) or device_id in self._access_points:
            self._access_points.pop(device_id, None)

    def forget(self, device_id: str) -> None:
        """The registry changed outside a Birth (an admin adopted the device)."""
        self._access_points.pop(device_id, None)
        self._home.pop(device_id, None)

    # ---- the rules ----------------------------------------------------------------------------

    async def may_be_born(self, address: DeviceAddress) -> bool:
        """A Birth of `address.device` carried by `address.gateway`."""
        if address.gateway == address.device or await self.trusted_access_point(address.gateway):
            return True
        await self.refuse(address, "birth")
        return False

    async def may_speak(self, address: DeviceAddress, channel: str) -> bool:
        """Any message but a Birth: only from the device's current gateway (or, for a device
        not registered yet, from itself or a trusted access point, which are asked to
        introduce it)."""
        home = (await self.homes([address.device])).get(address.device)
        if home == address.gateway:
            return True
        if home is None:
            if address.gateway == address.device:
                return True
            if await self.trusted_access_point(address.gateway):
                return True
        elif address.gateway == address.device or await self.trusted_access_point(address.gateway):
            # The device itself, or a trusted access point it has left: a late message of a
            # path that no longer carries it (a Will, a report in flight). Not an attack.
            self.stale += 1
            log.debug(
                "%s: stale %s via %s (now via %s)", address.device, channel, address.gateway, home
            )
            return False
        await self.refuse(address, channel)
        return False

    async def admit(
        self, items: Sequence[tuple[DeviceAddress, T]], channel: str
    ) -> list[tuple[DeviceAddress, T]]:
        """`may_speak` for a run of messages (a burst of reports), in a few queries."""
        await self.homes([address.device for address, _ in items])
        return [(a, m) for a, m in items if await self.may_speak(a, channel)]

    # ---- refusals -----------------------------------------------------------------------------

    async def refuse(self, address: DeviceAddress, channel: str) -> None:
        gateway = address.gateway
        self.refused[channel] += 1
        seen = self._refusals.setdefault(gateway, _Refusals())
        seen.total += 1
        seen.since_log += 1
        seen.since_problem += 1
        seen.since_asked += 1
        now = time.monotonic()
        if seen.logged_at is None or now - seen.logged_at >= LOG_INTERVAL_S:
            log.warning(
                "refused %d message(s) from gateway %s speaking for devices it does not carry"
                " (latest: %s for %s; %d in all)",
                seen.since_log,
                gateway,
                channel,
                address.device,
                seen.total,
            )
            seen.logged_at, seen.since_log = now, 0
        due = seen.problem_at is None or now - seen.problem_at >= PROBLEM_INTERVAL_S
        if seen.since_problem >= PROBLEM_AFTER and due:
            seen.problem_at, seen.since_problem = now, 0
            found = (await devices_by_id(self.conn, [gateway])).get(gateway)
            if found is None:
                return  # nothing to hang a problem on: the count and the log say it
            what = SPOOF_PROBLEM
            if is_access_point(found.model) and not found.adopted:
                what = UNADOPTED_PROBLEM  # most likely a new access point waiting for staff
            problem = (
                f"{what}: {seen.total} messages refused (latest: {channel} for {address.device})"
            )
            await set_problem(self.conn, gateway, problem, self.clock())

    def refusals(self, gateway_id: str) -> int:
        seen = self._refusals.get(gateway_id)
        return seen.total if seen else 0

    def refused_since_asked(self, gateway_id: str) -> int:
        """Refusals since the last call (an access point just trusted: were any of its messages
        dropped before, which it should send again?)."""
        seen = self._refusals.get(gateway_id)
        if seen is None:
            return 0
        count, seen.since_asked = seen.since_asked, 0
        return count
