"""A shelf sensor speaking to a constructed controller through its real device intake
(controller/device_intake.py), one report per second of a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller.link import Incoming
from controller.runtime import Controller
from firmware_protocol.codec import encode
from firmware_protocol.messages import NO_HASH, Birth, Message, Telemetry
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion


@dataclass
class Clock:
    """The controller's time; `tick` moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


def message(store: str, device_id: str, msg: Message) -> Incoming:
    """A message as the sensor (connected directly: its own gateway) publishes it."""
    return Incoming(
        DeviceAddress(store, device_id, device_id).topic(msg.OPCODE), encode(msg), 0, False
    )


@dataclass
class Sensor:
    controller: Controller
    clock: Clock
    device_id: str
    model: ModelId = ModelId.SHELF_SENSOR_4
    seq: int = 0
    sent: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def store(self) -> str:
        return self.controller.store

    async def birth(self, session: int = 1) -> None:
        birth = Birth(
            session, self.model, FirmwareVersion(1, 0, 0), 4096, 3000, 0, 1, 0, NO_HASH, 0
        )
        await self.controller.device_intake.on_messages(
            [message(self.store, self.device_id, birth)]
        )

    async def report(self, lane_grams: tuple[int, ...], *extra: Incoming) -> None:
        """One Telemetry a second later (with `extra` messages in the same batch, before it)."""
        self.clock.tick()
        self.seq += 1
        telemetry = Telemetry(self.seq, 3000, -60, 210, lane_grams)
        self.sent.append(lane_grams)
        batch = [*extra, message(self.store, self.device_id, telemetry)]
        await self.controller.device_intake.on_messages(batch)

    async def hold(self, seconds: int, lane_grams: tuple[int, ...]) -> None:
        """The same weights for `seconds` reports, with +/-1 g of alternating noise."""
        for i in range(seconds):
            wobble = 1 if i % 2 else -1
            await self.report(tuple(g + wobble for g in lane_grams))
