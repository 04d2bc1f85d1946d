"""A running controller (as `omnishelf serve` runs it), one device connected to the broker with
its own credentials, and the API in-process with a staff token: the rig of the shelf and
fitting-room end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from broker_access.credentials import client_password
from controller.api import create_app
from controller.local_broker import LocalBroker
from controller.runtime import Controller
from controller.service import running_controller
from controller.state.tokens_repo import Role, create_token
from firmware_protocol.topics import DeviceAddress
from tests.controller.api.api_kit import T0


@dataclass
class DeviceStack:
    controller: Controller
    device: aiomqtt.Client  # connected as the device
    address: DeviceAddress  # the device's own (it is its own gateway)
    api: httpx.AsyncClient
    headers: dict[str, str]  # the staff token's


@asynccontextmanager
async def device_stack(
    broker: LocalBroker, store_id: str, tmp_path: Path, device_id: str, **settings: Any
) -> AsyncIterator[DeviceStack]:
    """`settings` override the controller's (adopt patterns, escalation time, ...)."""
    config = broker.controller_settings(store_id, tmp_path / "state.db", **settings)
    broker.add_clients([device_id])
    async with (
        running_controller(config, workers=1) as controller,
        aiomqtt.Client(
            broker.host,
            broker.port,
            identifier=device_id,
            username=device_id,
            password=client_password(broker.store_secret, device_id),
        ) as device,
    ):
        app = create_app(config, controller=controller)
        _, secret = await create_token(controller.conn, "staff", Role.STAFF, at=T0, created_by="t")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
            yield DeviceStack(
                controller,
                device,
                DeviceAddress(store_id, device_id, device_id),
                api,
                {"Authorization": f"Bearer {secret}"},
            )
