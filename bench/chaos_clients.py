"""The chaos run's MQTT clients (bench/chaos.py): HQ, which resends what has no receipt as
docs/catalog.md tells it to, and a watch of every label's reports. Both reconnect across the
broker's restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import aiomqtt

from controller.local_broker import LocalBroker
from firmware_protocol.codec import decode
from firmware_protocol.messages import Reported
from firmware_protocol.topics import ROOT

RESEND_S = 10.0  # HQ resends a message without a receipt after this (docs/catalog.md)


def _client(
    broker: LocalBroker, credentials: tuple[str, str, str], *, clean_session: bool = True
) -> aiomqtt.Client:
    client_id, username, password = credentials
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=client_id,
        username=username,
        password=password,
        clean_session=clean_session,
        timeout=5,
    )


@dataclass
class _Sent:
    topic: str
    payload: bytes
    versions: dict[str, int]  # sku -> version, of every change in the message
    at: float = 0.0  # when it was last published


class Hq:
    """HQ over MQTT as docs/catalog.md tells it to behave: every message is kept until its
    receipt arrives (matched by batch id, or SKU and version) and resent when it has none after
    `RESEND_S` (a receipt says the change is stored; a PUBACK only that the broker has it)."""

    def __init__(self, broker: LocalBroker, store: str, credentials: tuple[str, str, str]):
        self.broker = broker
        self.store = store
        self.credentials = credentials
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._waiting: dict[str, _Sent] = {}  # receipt key -> message
        self.acknowledged: dict[str, int] = {}  # sku -> highest version the broker acked
        self.receipted: dict[str, int] = {}  # sku -> highest version a receipt said is stored
        self.published = 0  # changes
        self.resent = 0  # messages
        self.receipts = 0

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._resend_forever(), name="hq-resend")
            while True:
                with contextlib.suppress(aiomqtt.MqttError):
                    await self._session()
                await asyncio.sleep(0.3)

    async def _session(self) -> None:
        try:
            # A persistent session: receipts sent while HQ is away wait for it.
            async with _client(self.broker, self.credentials, clean_session=False) as client:
                await client.subscribe(f"omnishelf/{self.store}/catalog-status/receipt", qos=1)
                self._client = client
                self.connected.set()
                async for message in client.messages:
                    if isinstance(message.payload, bytes | bytearray):
                        self._on_receipt(json.loads(message.payload))
        finally:
            self.connected.clear()
            self._client = None

    def _on_receipt(self, receipt: dict[str, Any]) -> None:
        self.receipts += 1
        key = _receipt_key(receipt)
        sent = self._waiting.pop(key, None) if key is not None else None
        if sent is None:
            return  # a second receipt (a redelivery), or one for a message HQ already had
        for sku, version in sent.versions.items():
            self.receipted[sku] = max(version, self.receipted.get(sku, 0))

    async def send(self, key: str, topic: str, payload: bytes, versions: dict[str, int]) -> None:
        self.published += len(versions)
        sent = _Sent(topic, payload, versions)
        self._waiting[key] = sent
        await self._publish(sent)

    async def _publish(self, sent: _Sent) -> None:
        """Until the broker acknowledged it."""
        while True:
            await self.connected.wait()
            client = self._client
            if client is None:
                continue
            try:
                await asyncio.wait_for(client.publish(sent.topic, sent.payload, qos=1), 15)
            except (aiomqtt.MqttError, TimeoutError):
                await asyncio.sleep(0.3)
                continue
            sent.at = time.monotonic()
            for sku, version in sent.versions.items():
                self.acknowledged[sku] = max(version, self.acknowledged.get(sku, 0))
            return

    async def _resend_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for sent in list(self._waiting.values()):
                if sent.at and now - sent.at > RESEND_S:
                    self.resent += 1
                    await self._publish(sent)

    @property
    def unreceipted(self) -> int:
        return len(self._waiting)


def _receipt_key(receipt: dict[str, Any]) -> str | None:
    if receipt.get("batch_id") is not None:
        return f"batch:{receipt['batch_id']}"
    if receipt.get("sku") is not None:
        return f"item:{receipt['sku']}:{receipt.get('version')}"
    return None


class Watch:
    """Every label's reports, reconnecting; a live report of a lower revision is a regression."""

    def __init__(self, broker: LocalBroker, store: str, credentials: tuple[str, str, str]):
        self.broker = broker
        self.store = store
        self.credentials = credentials
        self.highest: dict[str, int] = {}
        self.shown: dict[str, bytes] = {}
        self.reports = 0
        self.regressions: list[str] = []

    async def run(self) -> None:
        while True:
            with contextlib.suppress(aiomqtt.MqttError):
                async with _client(self.broker, self.credentials) as client:
                    await client.subscribe(f"{ROOT}/{self.store}/up/+/+/reported", qos=1)
                    async for message in client.messages:
                        self._on(message)
            await asyncio.sleep(0.3)

    def _on(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray) or not payload:
            return
        frame = decode(bytes(payload))
        if not isinstance(frame, Reported):
            return
        label = message.topic.value.split("/")[4]
        self.reports += 1
        highest = self.highest.get(label, 0)
        if frame.revision < highest and not message.retain:
            # A retained report replayed after a broker restart may be older than the last
            # one (the broker saves on change, not on every message): what a label displays
            # is its live reports.
            self.regressions.append(f"{label}: {highest} -> {frame.revision}")
        if frame.revision >= highest:
            self.highest[label] = frame.revision
            self.shown[label] = frame.content_hash
