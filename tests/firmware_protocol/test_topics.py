"""The topic tree, identifiers and the QoS/retain table."""

from __future__ import annotations

import pytest
from paho.mqtt.client import topic_matches_sub

from firmware_protocol import ProtocolError
from firmware_protocol.messages import (
    DOWN_OPCODES,
    UP_OPCODES,
    Opcode,
)
from firmware_protocol.topics import (
    DELIVERY,
    Channel,
    DeviceAddress,
    Direction,
    ParsedTopic,
    controller_subscription,
    device_subscription,
    parse_topic,
)

# ---- topics -----------------------------------------------------------------------------------

# Written out by hand, independently of topics.DELIVERY.
EXPECTED_CHANNEL = {
    Opcode.BIRTH: ("up", "birth"),
    Opcode.DEATH: ("up", "death"),
    Opcode.REPORTED: ("up", "reported"),
    Opcode.TELEMETRY: ("up", "telemetry"),
    Opcode.EVENT: ("up", "event"),
    Opcode.XFER_REQUEST: ("up", "xfer"),
    Opcode.COMMAND_RESULT: ("up", "result"),
    Opcode.REQUEST: ("up", "request"),
    Opcode.DESIRED: ("down", "desired"),
    Opcode.CHUNK: ("down", "chunk"),
    Opcode.FIRMWARE_OFFER: ("down", "cmd"),
    Opcode.LED_FLASH: ("down", "cmd"),
    Opcode.PAGE_SWITCH: ("down", "cmd"),
    Opcode.FAST_WAKE: ("down", "cmd"),
    Opcode.PING: ("down", "cmd"),
    Opcode.REBOOT: ("down", "cmd"),
    Opcode.REBIRTH: ("down", "cmd"),
    Opcode.RESPONSE: ("down", "response"),
}
ADDRESS = DeviceAddress("store-7", "ap_3.lobby", "L0042")
STATE_DOCUMENTS = {Opcode.BIRTH, Opcode.DEATH, Opcode.REPORTED, Opcode.DESIRED}


def test_expected_channels_cover_every_opcode() -> None:
    """The hand-written channel table names every opcode once."""
    assert set(EXPECTED_CHANNEL) == set(Opcode)


@pytest.mark.parametrize("op", list(Opcode), ids=lambda o: o.name)
def test_topic_of_each_opcode(op: Opcode) -> None:
    """DeviceAddress.topic is os1/{store}/{up|down}/{gw}/{dev}/{channel} for every opcode."""
    direction, channel = EXPECTED_CHANNEL[op]
    assert ADDRESS.topic(op) == f"os1/store-7/{direction}/ap_3.lobby/L0042/{channel}"


@pytest.mark.parametrize("op", list(Opcode), ids=lambda o: o.name)
def test_parse_topic_round_trip(op: Opcode) -> None:
    """parse_topic of a device's topic gives back its direction, address and channel."""
    direction, channel = EXPECTED_CHANNEL[op]
    assert parse_topic(ADDRESS.topic(op)) == ParsedTopic(
        Direction(direction), ADDRESS, Channel(channel)
    )


def test_direct_device_is_its_own_gateway() -> None:
    """A directly connected device's topics carry its id as gateway and device."""
    direct = DeviceAddress.direct("s1", "lbl-1")
    assert direct.is_direct
    assert not ADDRESS.is_direct
    assert direct.topic(Opcode.BIRTH) == "os1/s1/up/lbl-1/lbl-1/birth"


def test_subscriptions_match_exactly_their_subtree() -> None:
    """A gateway's subscription matches its down topics only; the controller's all up topics."""
    gw_filter = device_subscription("store-7", "ap_3.lobby")
    ctl_filter = controller_subscription("store-7")
    other = DeviceAddress("store-7", "ap-4", "L0042")
    for op in Opcode:
        down = op in DOWN_OPCODES
        assert topic_matches_sub(gw_filter, ADDRESS.topic(op)) is down
        assert not topic_matches_sub(gw_filter, other.topic(op))
        assert topic_matches_sub(ctl_filter, ADDRESS.topic(op)) is not down
        assert not topic_matches_sub(controller_subscription("store-8"), ADDRESS.topic(op))


BAD_IDS = ["a/b", "a+b", "+", "#", "a#", "", "x" * 65, "-lead", ".lead", "a b", "ümlaut", "a\x00"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("position", ["store", "gateway", "device"])
def test_invalid_id_is_refused(position: str, bad: str) -> None:
    """An id with a separator, wildcard, bad character or wrong length raises ProtocolError."""
    ids = {"store": "s1", "gateway": "gw1", "device": "d1"}
    ids[position] = bad
    with pytest.raises(ProtocolError):
        DeviceAddress(**ids)


def test_id_of_64_characters_is_accepted() -> None:
    """The longest allowed id, 64 characters of the id alphabet, is accepted."""
    longest = "A" + "b_.-9" * 12 + "xyz"
    assert len(longest) == 64
    assert DeviceAddress(longest, longest, longest).topic(Opcode.PING).count(longest) == 3


@pytest.mark.parametrize("bad", ["abc\n", "x" * 64 + "\n"], ids=["newline", "64+newline"])
def test_id_with_trailing_newline_is_refused(bad: str) -> None:
    """An id ending in a newline is refused like any other character outside the id alphabet."""
    with pytest.raises(ProtocolError):
        DeviceAddress("s1", "gw1", bad)


@pytest.mark.parametrize(
    "topic",
    [
        "os1/s1/up/gw/dev",
        "os1/s1/up/gw/dev/birth/extra",
        "os2/s1/up/gw/dev/birth",
        "os1/s1/sideways/gw/dev/birth",
        "os1/s1/up/gw/dev/shout",
        "os1/s1/up/gw/+/birth",
        "os1/s1/up/gw//birth",
        "os1/s#/up/gw/dev/birth",
        "",
    ],
)
def test_parse_topic_refuses_foreign_topics(topic: str) -> None:
    """A topic outside the os1 tree, with a bad id, direction or channel raises ProtocolError."""
    with pytest.raises(ProtocolError):
        parse_topic(topic)


def test_every_opcode_has_a_delivery() -> None:
    """DELIVERY names channel, QoS and retain for every opcode, in the opcode's direction."""
    assert set(DELIVERY) == set(Opcode)
    for op, d in DELIVERY.items():
        assert d.direction is (Direction.UP if op in UP_OPCODES else Direction.DOWN)
        assert d.qos in (0, 1)


def test_only_state_documents_are_retained() -> None:
    """Exactly Birth, Death, Reported and Desired are retained; never a command or event."""
    assert {op for op, d in DELIVERY.items() if d.retain} == STATE_DOCUMENTS


def test_commands_are_qos1_and_not_retained() -> None:
    """Every controller->device message except Desired is QoS 1 and not retained."""
    commands = DOWN_OPCODES - {Opcode.DESIRED}
    assert Opcode.PING in commands
    assert Opcode.FIRMWARE_OFFER in commands
    for op in commands:
        assert DELIVERY[op].qos == 1, op
        assert DELIVERY[op].retain is False, op
    assert {op for op, d in DELIVERY.items() if d.channel is Channel.CMD} <= commands
