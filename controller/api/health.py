"""Liveness and readiness for a supervisor or load balancer; no authentication, no details
beyond what is wrong.

- `/healthz`: the process answers HTTP (alive). Restart it when this fails.
- `/readyz`: it can do its work: both MQTT sessions are connected (devices and catalog), the
  state database takes a write (one row of `health_probe`, at most once every PROBE_EVERY_S so
  that polling cannot turn into a write load), and the controller's stages still run (the task
  `running_controller` started is not done). 503 with the reasons otherwise.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from typing import cast

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from controller.runtime import Controller
from controller.service import run_task_of
from controller.state.database import transaction

PROBE_EVERY_S = 2.0
PROBE_TIMEOUT_S = 5.0

router = APIRouter(tags=["health"])


class Alive(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]
    reasons: list[str]


@dataclass
class _Probe:
    at: float = -1e9
    ok: bool = False
    why: str = ""


async def _database_writable(controller: Controller, probe: _Probe) -> tuple[bool, str]:
    now = time.monotonic()
    if now - probe.at < PROBE_EVERY_S:
        return probe.ok, probe.why
    probe.at = now
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), transaction(controller.conn):
            await controller.conn.execute(
                "INSERT INTO health_probe (id, at) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (controller.clock().isoformat(),),
            )
    except TimeoutError:
        probe.ok, probe.why = False, f"the database took no write within {PROBE_TIMEOUT_S:g} s"
    except (sqlite3.Error, ValueError) as exc:  # ValueError: the connection is closed
        probe.ok, probe.why = False, f"the database takes no write: {exc}"
    else:
        probe.ok, probe.why = True, ""
    return probe.ok, probe.why


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Alive:
    return Alive(status="alive")


@router.get(
    "/readyz",
    summary="MQTT connected, database writable, stages running",
    response_model=Readiness,
    responses={503: {"description": "not ready: the reasons", "model": Readiness}},
)
async def readyz(request: Request) -> JSONResponse:
    controller = cast(Controller | None, getattr(request.app.state, "controller", None))
    if controller is None:
        answer = Readiness(ready=False, checks={}, reasons=["the controller has not started"])
        return JSONResponse(answer.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    probe = getattr(request.app.state, "readiness_probe", None)
    if not isinstance(probe, _Probe):
        probe = request.app.state.readiness_probe = _Probe()
    run = run_task_of(controller)
    writable, why_not = await _database_writable(controller, probe)
    checks = {
        "mqtt_devices": controller.devices_link.connected.is_set(),
        "mqtt_catalog": controller.catalog_link.connected.is_set(),
        "database_writable": writable,
        "stages_running": run is not None and not run.done(),
    }
    reasons = {
        "mqtt_devices": "the devices' MQTT session is not connected",
        "mqtt_catalog": "the catalog's MQTT session is not connected",
        "database_writable": why_not,
        "stages_running": "the controller's stages are not running",
    }
    answer = Readiness(
        ready=all(checks.values()),
        checks=checks,
        reasons=[reasons[name] for name, ok in checks.items() if not ok],
    )
    code = status.HTTP_200_OK if answer.ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(answer.model_dump(), status_code=code)
