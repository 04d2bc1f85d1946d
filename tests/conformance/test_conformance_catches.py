"""The conformance check catches a simulator made wrong on purpose, over the real Mosquitto: a
Rebirth answered before its Birth (§7.6), a Birth whose shown_page is not one of its pages
(§4.4), a device without transaction memory (§7.1), a FirmwareOffer for an unknown ModelId
answered instead of dropped (§3.2)."""

from __future__ import annotations

import dataclasses

import pytest

from conformance.context import Outcome
from conformance.runner import run_conformance
from controller.local_broker import LocalBroker
from device_sim.device import SimDevice
from device_sim.gateway import Gateway, Outgoing
from device_sim.label import SimLabel
from firmware_protocol.messages import (
    Birth,
    CommandResult,
    CommandStatus,
    Message,
    Opcode,
    Rebirth,
)
from firmware_protocol.topics import Channel
from tests.conformance.test_conformance_simulator import simulated_label


async def outcomes(broker: LocalBroker, store: str, *scenarios: str) -> dict[str, Outcome]:
    async with simulated_label(broker, store, access_points=0, checkin_s=0.0) as device:
        report = await run_conformance(
            broker.address(), store, device, broker.store_secret, scenarios=scenarios
        )
    return {r.name: r.outcome for r in report.results}


async def test_a_rebirth_answered_before_its_birth_fails(
    broker: LocalBroker, store_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CommandResult OK, then the Birth: the rebirth scenario fails (the Birth comes first)."""
    handle = SimLabel.handle

    def result_first(self: SimLabel, msg: Message, now: float) -> list[Message]:
        out = handle(self, msg, now)
        return out[::-1] if isinstance(msg, Rebirth) else out

    monkeypatch.setattr(SimLabel, "handle", result_first)
    assert await outcomes(broker, store_id, "birth", "rebirth") == {
        "birth": Outcome.PASS,
        "rebirth": Outcome.FAIL,
    }


async def test_a_birth_showing_a_page_it_does_not_have_fails(
    broker: LocalBroker, store_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Birth with shown_page = pages fails the birth scenario."""
    birth = SimLabel.birth

    def beyond(self: SimLabel) -> Birth:
        return dataclasses.replace(birth(self), shown_page=self.pages)

    monkeypatch.setattr(SimLabel, "birth", beyond)
    assert await outcomes(broker, store_id, "birth") == {"birth": Outcome.FAIL}


async def test_a_device_that_runs_a_repeated_txn_again_fails_commands(
    broker: LocalBroker, store_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without txn memory the repeated PageSwitch(1) shows page 1 again: commands fails."""

    def no_memory(self: SimDevice, msg: Message, now: float) -> list[Message]:
        return self.handle(msg, now)

    monkeypatch.setattr(SimDevice, "process", no_memory)
    assert await outcomes(broker, store_id, "page-switch", "commands") == {
        "page-switch": Outcome.PASS,
        "commands": Outcome.FAIL,
    }


async def test_answering_a_firmware_offer_for_an_unknown_model_fails_malformed(
    broker: LocalBroker, store_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that answers the FirmwareOffer whose ModelId is not listed (a malformed body,
    §3.2) with WRONG_MODEL fails the malformed scenario."""
    receive = Gateway.receive

    def answers_unknown_models(
        self: Gateway, device_id: str, payload: bytes, now: float, channel: Channel | None = None
    ) -> list[Outgoing]:
        if payload[3] == Opcode.FIRMWARE_OFFER and payload[16:18] == b"\xff\xff":
            txn = int.from_bytes(payload[8:12], "big")
            return [Outgoing(device_id, CommandResult(txn, CommandStatus.WRONG_MODEL))]
        return receive(self, device_id, payload, now, channel)

    monkeypatch.setattr(Gateway, "receive", answers_unknown_models)
    assert await outcomes(broker, store_id, "malformed") == {"malformed": Outcome.FAIL}
