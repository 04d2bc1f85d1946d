"""The simulator as the console's display source: the panel memory of each simulated label."""

from __future__ import annotations

import zlib

from controller.demo.display import SimulatorDisplay
from device_sim.behaviour import Behaviour
from device_sim.mqtt import BrokerAddress
from device_sim.simulator import Simulator
from device_sim.store import StoreSpec, build_store
from firmware_protocol.messages import NO_HASH
from firmware_protocol.planes import content_hash, pack_planes


def _simulator() -> Simulator:
    gateways = build_store(StoreSpec("s1", 3, sensors=1), Behaviour.instant())
    return Simulator(gateways, BrokerAddress("127.0.0.1", 1), "secret")


async def test_a_blank_label_and_unknown_devices() -> None:
    """A label never written is blank (no planes); a sensor or an unknown id has no image."""
    display = SimulatorDisplay(_simulator())
    blank = await display.displayed("lbl-00001")
    assert blank is not None
    assert blank.planes is None
    assert blank.content_hash == NO_HASH
    assert blank.source == "simulator"
    assert await display.displayed("shelf-001") is None
    assert await display.displayed("lbl-09999") is None


async def test_what_the_panel_holds() -> None:
    """The planes, revision and hash are the simulated panel's own."""
    sim = _simulator()
    label = sim.label("lbl-00002")
    pixels = bytes((x // 8) % 2 for x in range(label.model.width * label.model.height))
    planes = pack_planes(pixels, label.model)
    label.images[0] = zlib.compress(planes)
    label.revision, label.displayed_hash = 7, content_hash(planes)
    shown = await SimulatorDisplay(sim).displayed("lbl-00002")
    assert shown is not None
    assert (shown.planes, shown.revision, shown.content_hash) == (planes, 7, content_hash(planes))
    assert shown.model == label.model
    assert shown.png()[:8] == b"\x89PNG\r\n\x1a\n"
