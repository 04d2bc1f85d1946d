"""Runs the scenarios against one device, in order, and collects one result per scenario.

Order matters: `birth` first (everything else learns the device from it), the image scenarios
before the commands, and `offline-catch-up` last (it reboots the device). A scenario that fails
leaves the next ones runnable: each one that needs it starts by re-establishing an image the
check knows on page 0, and a failure makes the check forget what it believed the device shows.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from broker_access.address import BrokerAddress
from conformance import scenarios_device as device
from conformance import scenarios_images as images
from conformance.context import Context, Failed, Outcome, Shown, Skipped, expect_seconds
from conformance.session import ConformanceError, DeviceSession, UpMessage
from firmware_protocol.messages import Birth, Death
from firmware_protocol.models import DeviceKind

BIRTH_WAIT_S = 5.0  # for the retained Birth, before asking with a Rebirth
RETAINED_GRACE_S = 0.5  # the other retained documents arrive with the Birth


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    clause: str
    run: Callable[[Context], Awaitable[str]]
    needs_image: bool  # starts from a known image on page 0


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("birth", "§1.2 §4.4 §4.6", device.birth, needs_image=False),
    Scenario("full-image", "§4.7 §5.3-§5.5", images.full_image, needs_image=False),
    Scenario("delta", "§5.3", images.delta, needs_image=True),
    Scenario("stale", "§4.7", images.stale, needs_image=True),
    Scenario("page-switch", "§7.3", images.page_switch, needs_image=True),
    Scenario("lost-chunk", "§5.5 §5.6", images.lost_chunk, needs_image=True),
    Scenario("lost-base", "§4.7 §5.6", images.lost_base, needs_image=True),
    Scenario("integrity", "§5.5", images.integrity, needs_image=True),
    Scenario("rebirth", "§7.6", device.rebirth, needs_image=False),
    Scenario("commands", "§7.1 §7.2 §7.4 §7.5 §6", device.commands, needs_image=False),
    Scenario("firmware-refused", "§7.7", device.firmware_refused, needs_image=False),
    Scenario("malformed", "§2.4 §3.5", device.malformed, needs_image=True),
    Scenario("offline-catch-up", "§4.6 §4.7 §6", images.offline_catch_up, needs_image=True),
)
NAMES: tuple[str, ...] = tuple(s.name for s in SCENARIOS)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    clause: str
    outcome: Outcome
    detail: str
    duration_s: float

    def line(self) -> str:
        return f"{self.outcome.value:<4}  {self.name:<16}  {self.clause:<24}  {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "clause": self.clause,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass
class Report:
    store: str
    device: str
    started_at: datetime
    gateway: str = ""
    model: str = ""
    firmware: str = ""
    checkin_s: int = 0
    expect_s: float = 0.0
    duration_s: float = 0.0
    results: list[ScenarioResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.outcome is Outcome.FAIL for r in self.results)

    def outcome(self, name: str) -> Outcome:
        return next(r.outcome for r in self.results if r.name == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "device": self.device,
            "gateway": self.gateway,
            "model": self.model,
            "firmware": self.firmware,
            "checkin_s": self.checkin_s,
            "expect_s": self.expect_s,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": round(self.duration_s, 3),
            "passed": not self.failed,
            "results": [r.as_json() for r in self.results],
        }


def select(names: Iterable[str] | None) -> list[Scenario]:
    """The scenarios named (in the fixed order), or all; a ValueError names unknown ones."""
    if not names:
        return list(SCENARIOS)
    wanted = set(names)
    unknown = wanted - set(NAMES)
    if unknown:
        raise ValueError(
            f"unknown scenario {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}"
        )
    return [s for s in SCENARIOS if s.name in wanted]


async def run_conformance(
    broker: BrokerAddress,
    store: str,
    device_id: str,
    store_secret: str,
    *,
    scenarios: Iterable[str] | None = None,
    timeout_scale: float = 1.0,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> Report:
    """Connect as the store's controller, find the device, run the scenarios.

    Raises ConformanceError when the check cannot run (broker, credentials, connection lost);
    a device that misbehaves, or never shows up, is a Report with failures instead."""
    chosen = select(scenarios)
    report = Report(store, device_id, datetime.now(UTC))
    started = time.monotonic()
    error: ConformanceError | None = None
    session = DeviceSession(broker, store, device_id, store_secret)
    async with session, asyncio.TaskGroup() as tasks:
        receiver = tasks.create_task(session.receive(), name="conformance-receive")
        try:
            await _run(session, chosen, report, timeout_scale, on_result)
        except ConformanceError as exc:  # kept out of the TaskGroup's exception group
            error = exc
        finally:
            receiver.cancel()
    report.duration_s = time.monotonic() - started
    if error is not None:
        raise error
    return report


async def _run(
    session: DeviceSession,
    chosen: list[Scenario],
    report: Report,
    scale: float,
    on_result: Callable[[ScenarioResult], None] | None,
) -> None:
    def record(result: ScenarioResult) -> None:
        report.results.append(result)
        if on_result is not None:
            on_result(result)

    found = await _discover(session, scale)
    if found is None:
        why = f"no Birth from {report.device} (retained, or after a Rebirth on its direct path)"
        for scenario in chosen:  # the first one fails, the others cannot run
            outcome = Outcome.FAIL if scenario is chosen[0] else Outcome.SKIP
            record(ScenarioResult(scenario.name, scenario.clause, outcome, why, 0.0))
        return
    up, retained = found
    born = up.message
    assert isinstance(born, Birth)
    report.gateway, report.model = up.gateway, born.model.name
    report.firmware, report.checkin_s = str(born.firmware), born.checkin_s
    ctx = Context(
        session,
        born,
        expect_seconds(born.checkin_s, scale),
        Shown(born.displayed_revision, born.displayed_hash, born.shown_page),
        birth_retained=retained,
    )
    report.expect_s = ctx.expect_s
    is_label = born.model.kind is DeviceKind.LABEL
    for scenario in chosen:
        t0 = time.monotonic()
        try:
            detail = await _one(ctx, scenario, is_label=is_label)
            outcome = Outcome.PASS
        except Failed as exc:
            outcome, detail = Outcome.FAIL, str(exc)
            ctx.shown.certain = False
        except Skipped as exc:
            outcome, detail = Outcome.SKIP, str(exc)
        record(
            ScenarioResult(scenario.name, scenario.clause, outcome, detail, time.monotonic() - t0)
        )


async def _one(ctx: Context, scenario: Scenario, *, is_label: bool) -> str:
    if not is_label and scenario.name != "birth":
        raise Skipped(f"{ctx.birth.model.name} is not a label")
    if scenario.needs_image:
        await ctx.ensure_known_image()
    return await scenario.run(ctx)


async def _discover(session: DeviceSession, scale: float) -> tuple[UpMessage, bool] | None:
    """The device's latest Birth: retained at subscribe, else asked for with a Rebirth on the
    direct path (a proxied device's AP path is unknown until its first Birth)."""

    def is_birth(u: UpMessage) -> bool:
        return isinstance(u.message, Birth)

    first = await session.wait_for(is_birth, BIRTH_WAIT_S * scale)
    retained = first is not None and first.retain
    if first is None:
        await session.rebirth_direct(secrets.randbelow(1 << 30) + 1)
        first = await session.wait_for(is_birth, expect_seconds(0, scale))
        if first is None:
            return None
    await asyncio.sleep(RETAINED_GRACE_S)
    latest = _online_birth(session.ups)
    session.gateway = latest.gateway
    return latest, retained


def _online_birth(ups: list[UpMessage]) -> UpMessage:
    """The Birth to trust when several gateway paths hold one (a label that moved): sessions
    compare per path (§4.6), so prefer the paths whose Birth is not ended by their Death."""

    def session(u: UpMessage) -> int:
        return u.message.session if isinstance(u.message, Birth | Death) else 0

    births = [u for u in ups if isinstance(u.message, Birth)]
    deaths = [u for u in ups if isinstance(u.message, Death)]
    online = [
        b
        for b in births
        if not any(d.gateway == b.gateway and session(d) >= session(b) for d in deaths)
    ]
    return max(online or births, key=session)
