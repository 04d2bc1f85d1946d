"""The MQTT ceiling benchmark delivers every message through the shipped broker, or says why not."""

from __future__ import annotations

import pytest

from bench import mqtt_ceiling
from bench.mqtt_ceiling import CeilingError, measure
from controller.local_broker import LocalBroker


def test_every_qos1_message_arrives_over_several_gateways(broker: LocalBroker) -> None:
    """2,000 QoS 1 messages spread over 4 gateway subscribers all arrive and are acknowledged."""
    row = measure(broker, qos=1, count=2000, payload_bytes=300, gateways=4, timeout_s=30)

    assert row["received"] == row["messages"] == 2000
    assert row["payload_bytes"] == 300
    assert row["seconds"] > 0
    assert row["publish_seconds"] > 0
    assert row["mb_per_s"] == pytest.approx(row["msgs_per_s"] * 300 / 1e6, rel=0.01)


def test_run_gives_the_qos1_rows_and_a_qos0_row(broker: LocalBroker) -> None:
    """The section has QoS 1 unlimited, QoS 1 with the controller's window, and QoS 0."""
    section = mqtt_ceiling.run(broker, count=300, payload_bytes=100, gateways=3)

    assert section.scenario == "mqtt"
    assert [(r["qos"], r["inflight"]) for r in section.rows] == [
        (1, "unlimited"),
        (1, mqtt_ceiling.CONTROLLER_INFLIGHT),
        (0, "unlimited"),
    ]
    assert all(r["received"] == 300 for r in section.rows[:2])


def test_unprovisioned_gateways_fail_with_a_clear_error(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribers the broker does not know are refused: an error naming the cause, no hang."""
    monkeypatch.setattr(broker, "add_clients", lambda ids: None)

    with pytest.raises(CeilingError, match="refused"):
        measure(broker, qos=1, count=10, payload_bytes=10, gateways=2, timeout_s=5)
