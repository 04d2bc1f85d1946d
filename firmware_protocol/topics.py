"""The MQTT topic tree of protocol v1 (PROTOCOL.md §2).

    os1/{store}/up/{gateway}/{device}/{channel}     device -> controller
    os1/{store}/down/{gateway}/{device}/{channel}   controller -> device

`gateway` is the MQTT identity that carries the device: the device itself when it connects
directly, or the access point that proxies it. Broker ACLs grant a client write on
`os1/+/up/%u/#` and read on `os1/+/down/%u/#`, so a device or access point can only touch its
own subtree. Retained topics hold versioned state documents only (birth, death, reported,
desired), never commands (Tasmota's lesson).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from firmware_protocol.errors import ProtocolError
from firmware_protocol.messages import Opcode

ROOT: Final = "os1"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class Channel(StrEnum):
    BIRTH = "birth"
    DEATH = "death"
    REPORTED = "reported"
    TELEMETRY = "telemetry"
    EVENT = "event"
    XFER = "xfer"
    RESULT = "result"
    REQUEST = "request"
    DESIRED = "desired"
    CHUNK = "chunk"
    CMD = "cmd"
    RESPONSE = "response"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a message travels: its channel, MQTT QoS and retain flag."""

    channel: Channel
    direction: Direction
    qos: int
    retain: bool


_UP, _DOWN = Direction.UP, Direction.DOWN

DELIVERY: Final[dict[Opcode, Delivery]] = {
    Opcode.BIRTH: Delivery(Channel.BIRTH, _UP, 1, True),
    Opcode.DEATH: Delivery(Channel.DEATH, _UP, 1, True),
    Opcode.REPORTED: Delivery(Channel.REPORTED, _UP, 1, True),
    Opcode.TELEMETRY: Delivery(Channel.TELEMETRY, _UP, 0, False),
    Opcode.EVENT: Delivery(Channel.EVENT, _UP, 1, False),
    Opcode.XFER_REQUEST: Delivery(Channel.XFER, _UP, 1, False),
    Opcode.COMMAND_RESULT: Delivery(Channel.RESULT, _UP, 1, False),
    Opcode.REQUEST: Delivery(Channel.REQUEST, _UP, 1, False),
    Opcode.DESIRED: Delivery(Channel.DESIRED, _DOWN, 1, True),
    Opcode.CHUNK: Delivery(Channel.CHUNK, _DOWN, 1, False),
    Opcode.FIRMWARE_OFFER: Delivery(Channel.CMD, _DOWN, 1, False),
    Opcode.LED_FLASH: Delivery(Channel.CMD, _DOWN, 1, False),
    Opcode.PAGE_SWITCH: Delivery(Channel.CMD, _DOWN, 1, False),
    Opcode.FAST_WAKE: Delivery(Channel.CMD, _DOWN, 1, False),
    Opcode.PING: Delivery(Channel.CMD, _DOWN, 1, False),
    Opcode.REBOOT: Delivery(Channel.CMD, _DOWN, 1, False),
    Opcode.REBIRTH: Delivery(Channel.CMD, _DOWN, 1, False),
    Opcode.RESPONSE: Delivery(Channel.RESPONSE, _DOWN, 1, False),
}


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ProtocolError(
            f"{what} {value!r} must be 1-64 of A-Z a-z 0-9 _ . - and start alphanumeric"
        )
    return value


@dataclass(frozen=True, slots=True)
class DeviceAddress:
    store: str
    gateway: str
    device: str

    def __post_init__(self) -> None:
        check_id(self.store, "store id")
        check_id(self.gateway, "gateway id")
        check_id(self.device, "device id")

    @classmethod
    def direct(cls, store: str, device: str) -> DeviceAddress:
        return cls(store, device, device)

    @property
    def is_direct(self) -> bool:
        return self.gateway == self.device

    def topic(self, opcode: Opcode) -> str:
        d = DELIVERY[opcode]
        return f"{ROOT}/{self.store}/{d.direction}/{self.gateway}/{self.device}/{d.channel}"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    direction: Direction
    address: DeviceAddress
    channel: Channel


def parse_topic(topic: str) -> ParsedTopic:
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != ROOT:
        raise ProtocolError(f"topic {topic!r} is not os1/{{store}}/{{up|down}}/{{gw}}/{{dev}}/ch")
    _, store, direction, gateway, device, channel = parts
    try:
        return ParsedTopic(
            Direction(direction), DeviceAddress(store, gateway, device), Channel(channel)
        )
    except ValueError as exc:
        raise ProtocolError(f"topic {topic!r}: {exc}") from exc


def device_subscription(store: str, gateway: str) -> str:
    """What a gateway (a direct device or an access point) subscribes to: its down subtree."""
    return f"{ROOT}/{check_id(store, 'store id')}/down/{check_id(gateway, 'gateway id')}/#"


def controller_subscription(store: str) -> str:
    """What the store controller subscribes to: everything devices publish in its store."""
    return f"{ROOT}/{check_id(store, 'store id')}/up/#"
