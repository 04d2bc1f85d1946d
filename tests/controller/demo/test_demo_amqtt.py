"""The amqtt fallback broker: the shipped ACL's rules, derived passwords, and a whole demo store
converging over it."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiomqtt
import httpx
import psutil
import pytest

from broker_access.credentials import client_password
from controller.demo.amqtt_broker import covers, permitted, running_amqtt
from controller.demo.stack import running_demo
from controller.local_broker import free_port
from firmware_protocol.planes import content_hash


def test_acl_filters() -> None:
    """A filter covers what it matches; `#` covers its parent; `+` does not cover `#`."""
    assert covers("os1/#", "os1/s1/up/ap-01/x")
    assert covers("os1/+/up/ap-01/#", "os1/s1/up/ap-01")
    assert covers("os1/+/up/ap-01/#", "os1/+/up/ap-01/#")
    assert not covers("os1/+/up/ap-01/#", "os1/#")
    assert not covers("os1/+/down/a/#", "os1/s1/down/b/x")
    assert not covers("os1/+/x", "os1/#/x")


def test_acl_users() -> None:
    """Devices only their own topics; hq only the catalog; the controller everything of ours."""
    assert permitted("lbl-00001", "os1/s1/up/lbl-00001/birth", write=True)
    assert not permitted("lbl-00001", "os1/s1/up/lbl-00002/birth", write=True)
    assert permitted("lbl-00001", "os1/s1/down/lbl-00001/#", write=False)
    assert not permitted("lbl-00001", "os1/s1/down/#", write=False)
    assert not permitted("lbl-00001", "omnishelf/s1/catalog/batch", write=True)
    assert permitted("hq-s1", "omnishelf/s1/catalog/batch", write=True)
    assert not permitted("hq-s1", "omnishelf/s1/catalog/batch", write=False)
    assert permitted("hq-s1", "omnishelf/s1/catalog-status/receipt", write=False)
    assert not permitted("hq-s1", "omnishelf/s2/catalog/batch", write=True)
    assert not permitted("hq-s1", "os1/s1/down/lbl-00001/desired", write=True)
    assert permitted("controller-s1", "os1/s1/#", write=False)
    assert not permitted("controller-s1", "os1/#", write=False)
    assert not permitted("%u", "os1/s1/up/%u/x", write=True)


def _client(port: int, secret: str, user: str, password: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=f"{user}-{secrets.token_hex(3)}",
        username=user,
        password=password if password is not None else client_password(secret, user),
        protocol=aiomqtt.ProtocolVersion.V311,
    )


async def test_amqtt_enforces_passwords_and_topics() -> None:
    """A wrong password is refused; a device may not read another's topics nor write them."""
    secret, port = secrets.token_urlsafe(16), free_port()
    async with running_amqtt(secret, port):
        with pytest.raises(aiomqtt.MqttError):
            async with _client(port, secret, "lbl-00001", password="wrong"):
                pass
        async with (
            _client(port, secret, "controller-s1") as controller,
            _client(port, secret, "lbl-00001") as device,
        ):
            await controller.subscribe("os1/s1/#", qos=1)
            denied = await device.subscribe("os1/s1/down/lbl-00002/#", qos=1)
            assert 128 in [q if isinstance(q, int) else q.value for q in denied]
            await device.publish("os1/s1/up/lbl-00002/birth", b"forged", qos=1)
            await device.publish("os1/s1/up/lbl-00001/birth", b"mine", qos=1)
            async with asyncio.timeout(5):
                async for message in controller.messages:
                    assert message.topic.value == "os1/s1/up/lbl-00001/birth"
                    break


async def test_a_connection_that_ends_before_its_connect_is_closed() -> None:
    """A port probe (connect, close) leaves no socket behind: amqtt alone keeps it in
    CLOSE_WAIT until the garbage collector finds it, and then warns."""
    secret, port = secrets.token_urlsafe(16), free_port()
    async with running_amqtt(secret, port):
        for _ in range(3):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()

        def left() -> list[object]:
            mine = psutil.Process().net_connections(kind="tcp")
            return [c for c in mine if c.laddr and c.laddr.port == port and c.raddr]

        async with asyncio.timeout(5):
            while left():  # noqa: ASYNC110 - the kernel's sockets
                await asyncio.sleep(0.05)


async def test_demo_store_converges_over_amqtt(tmp_path: Path) -> None:
    """A small demo store on amqtt: every label shows the controller's image (the simulator's
    pixels, through the display source), the console answers and the tokens work."""
    async with running_demo(
        tmp_path, labels=24, broker="amqtt", workers=1, catalog_interval_s=1.0
    ) as demo:
        assert demo.broker == "amqtt"
        async with asyncio.timeout(60):
            while await demo.shown() < 24:  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.2)
        label = next(iter(demo.simulator.labels()))
        async with httpx.AsyncClient(base_url=demo.url) as http:
            assert (await http.get("/login")).status_code == 200
            answer = await http.get(
                f"/api/v1/labels/{label.device_id}",
                headers={"Authorization": f"Bearer {demo.tokens['viewer']}"},
            )
            assert answer.status_code == 200
            assert answer.json()["binding"]["sku"].startswith("TR-")
        planes = label.planes()
        assert planes is not None
        assert content_hash(planes) == label.displayed_hash
        async with asyncio.timeout(30):
            while demo.hq.receipts["accepted"] < 2:  # noqa: ASYNC110 - HQ's receipts
                await asyncio.sleep(0.2)
