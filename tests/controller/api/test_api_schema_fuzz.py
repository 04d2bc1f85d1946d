"""Schemathesis against the live OpenAPI document (issue 12, "Must show"): every operation of the
API served by uvicorn, called with an admin token on data generated from the document itself,
valid and invalid; no answer may be a server error or a status the document does not list, and
each answer must match the schema and content type documented for its status.

Bounded: EXAMPLES cases per operation and mode, no shrinking, no example database, so the run
takes a fixed amount of work (~15 s on 2 cores) rather than hunting until a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import hypothesis
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from controller.api import create_app
from controller.api.rate_limits import EdgeLimits, Rate
from controller.http_server import EmbeddedServer
from controller.runtime import Controller
from controller.state.database import open_database
from controller.state.tokens_repo import Role, create_token
from label_renderer.batch import BatchRenderer
from tests.controller.api.api_kit import T0, settings_for

EXAMPLES = 30
NOT_READY_IS_AN_ANSWER = {"/readyz"}  # its 503 is documented: this controller is idle
UNLIMITED = Rate(per_s=1e6, burst=10**6)  # the run is one client: rate limits are tested apart


@contextlib.asynccontextmanager
async def served_api(tmp_path: Path, store_id: str) -> AsyncIterator[tuple[str, str]]:
    """The app on a free local port around an idle controller: (base URL, an admin token)."""
    settings = settings_for(tmp_path, store_id)
    limits = EdgeLimits(api_per_address=UNLIMITED, api_per_token=UNLIMITED)
    async with open_database(settings.state_db) as conn:
        _, admin = await create_token(conn, "admin", Role.ADMIN, at=T0, created_by="test")
        controller = Controller(settings, conn, BatchRenderer(1), clock=lambda: T0)
        app = create_app(settings, controller=controller, limits=limits)
        server = EmbeddedServer(uvicorn.Config(app, log_level="warning", lifespan="on"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            async with asyncio.TaskGroup() as tasks:
                web = tasks.create_task(server.serve(sockets=[sock]), name="web")
                try:
                    while not server.started:
                        if web.done():
                            raise AssertionError("uvicorn stopped at start")
                        await asyncio.sleep(0.02)
                    yield f"http://127.0.0.1:{port}", admin
                finally:
                    server.should_exit = True


def checks_of(case: schemathesis.Case) -> list[CheckFunction]:
    """No server error (but /readyz's documented 503), no undocumented status, answers as
    documented."""
    if case.operation.path in NOT_READY_IS_AN_ANSWER:
        return [status_code_conformance]
    return [
        not_a_server_error,
        status_code_conformance,
        response_schema_conformance,
        content_type_conformance,
    ]


def fuzz(base_url: str, token: str) -> tuple[int, list[str]]:
    """Run every operation in both modes; (cases run, the first failure of each operation)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    ran = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def one(case: schemathesis.Case) -> None:
                nonlocal ran
                ran += 1
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                case.validate_response(response, checks=checks_of(case))

            try:
                one()
            except hypothesis.errors.Unsatisfiable:
                continue  # no parameter to make invalid (GET /healthz): nothing to send
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  record, go on
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
    return ran, failures


async def test_the_live_openapi_holds_under_schemathesis(tmp_path: Path, store_id: str) -> None:
    """0 server errors and 0 status codes the OpenAPI document does not list, on every
    operation, with generated valid and invalid requests."""
    async with served_api(tmp_path, store_id) as (base_url, token):
        ran, failures = await asyncio.to_thread(fuzz, base_url, token)
    print(f"schemathesis: {ran} cases, {len(failures)} failing operations")
    assert ran > 100
    assert failures == [], "\n\n".join(failures)
