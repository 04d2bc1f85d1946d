"""/healthz and /readyz against a controller really running on the real Mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from controller.api import create_app
from controller.local_broker import LocalBroker
from controller.service import run_task_of


async def test_readyz_reflects_the_running_controller(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """Ready while both MQTT sessions are up, the database takes writes and the stages run;
    503 with the reasons once the stages have stopped; /healthz answers throughout."""
    app = create_app(broker.controller_settings(store_id, tmp_path / "s.db"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).json() == {"status": "alive"}
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {
                "mqtt_devices": True,
                "mqtt_catalog": True,
                "database_writable": True,
                "stages_running": True,
            }
            run = run_task_of(app.state.controller)
            assert run is not None
            run.cancel()
            await asyncio.wait({run})
            stopped = await client.get("/readyz")
            assert stopped.status_code == 503
            body = stopped.json()
            assert body["ready"] is False
            assert "the controller's stages are not running" in body["reasons"]
            assert (await client.get("/healthz")).status_code == 200


async def test_readyz_says_when_the_database_takes_no_write(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """A database that refuses writes (here: opened read-only underneath) makes /readyz 503."""
    app = create_app(broker.controller_settings(store_id, tmp_path / "s.db"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/readyz")).status_code == 200
            conn = app.state.controller.conn
            await conn.execute("PRAGMA query_only = ON")
            app.state.readiness_probe.at = -1e9  # probe again now, not after PROBE_EVERY_S
            try:
                refused = await client.get("/readyz")
            finally:
                await conn.execute("PRAGMA query_only = OFF")
            assert refused.status_code == 503
            assert refused.json()["checks"]["database_writable"] is False
            assert any("database" in reason for reason in refused.json()["reasons"])
