"""Runs a simulated store against a broker: every gateway link in one TaskGroup."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Iterator

from broker_access.address import BrokerAddress
from broker_access.credentials import client_password
from device_sim.device import SimDevice
from device_sim.gateway import Gateway, Outgoing
from device_sim.label import SimLabel
from device_sim.mqtt import GatewayLink

CONNECT_CONCURRENCY = 100


class Simulator:
    def __init__(self, gateways: list[Gateway], broker: BrokerAddress, store_secret: str):
        self.links = {
            gw.gateway_id: GatewayLink(gw, broker, client_password(store_secret, gw.gateway_id))
            for gw in gateways
        }
        self._device_gateway = {
            device_id: gw.gateway_id for gw in gateways for device_id in gw.devices
        }

    @property
    def gateway_ids(self) -> list[str]:
        return list(self.links)

    def device(self, device_id: str) -> SimDevice:
        return self.links[self._device_gateway[device_id]].gateway.devices[device_id]

    def label(self, device_id: str) -> SimLabel:
        device = self.device(device_id)
        if not isinstance(device, SimLabel):
            raise TypeError(f"{device_id} is a {device.model.name}, not a label")
        return device

    def labels(self) -> Iterator[SimLabel]:
        for link in self.links.values():
            for device in link.gateway.devices.values():
                if isinstance(device, SimLabel):
                    yield device

    def gateway_of(self, device_id: str) -> Gateway:
        return self.links[self._device_gateway[device_id]].gateway

    def crash_access_points(self) -> None:
        """Every gateway link dies at once and reconnects (the chaos run's access points)."""
        for link in self.links.values():
            link.crash()

    def end_faults(self) -> None:
        """The radio's faults stop (no loss, duplication or new offline windows) and every
        device in an offline window comes back: the end of the chaos run's faults."""
        for link in self.links.values():
            gateway = link.gateway
            gateway.behaviour = dataclasses.replace(
                gateway.behaviour, loss=0.0, duplication=0.0, offline_rate_per_h=0.0
            )
            link.act(functools.partial(_everyone_back, gateway))

    def move(self, device_id: str, gateway_id: str) -> None:
        """The device roams to another access point: it leaves its gateway and is announced by
        the new one (PROTOCOL.md §2.3)."""
        old = self.links[self._device_gateway[device_id]]
        new = self.links[gateway_id]
        device = old.gateway.leave(device_id)
        self._device_gateway[device_id] = gateway_id
        new.act(lambda now: new.gateway.join(device, now))

    def act(self, device_id: str, action: Callable[[Gateway, float], list[Outgoing]]) -> None:
        """Run a fault or staff action on a device's gateway and publish its result."""
        link = self.links[self._device_gateway[device_id]]
        link.act(lambda now: action(link.gateway, now))

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Connect every gateway (a bounded number at a time), then run until cancelled."""
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
        async with asyncio.TaskGroup() as tasks:
            for gateway_id, link in self.links.items():
                tasks.create_task(link.run(limit), name=f"link-{gateway_id}")
            for link in self.links.values():
                await link.connected.wait()
            if ready is not None:
                ready.set()


def _everyone_back(gateway: Gateway, now: float) -> list[Outgoing]:
    out: list[Outgoing] = []
    for device_id in list(gateway.devices):
        if gateway.is_offline(device_id):
            out += gateway.come_back(device_id, now)
    return out
