"""What a simulated label shows, straight from the simulator's panel memory.

The demo runs the simulator in the controller's process, so the console can show the pixels the
simulated panel holds rather than the controller's idea of them (`controller.display`'s
`ReportedImages`): if the two ever differed, the store wall would show it.
"""

from __future__ import annotations

from controller.display import DisplayedImage
from device_sim.label import SimLabel
from device_sim.simulator import Simulator


class SimulatorDisplay:
    """A `controller.display.DisplaySource` reading the simulator's labels."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def displayed(self, device_id: str) -> DisplayedImage | None:
        try:
            label = self.simulator.label(device_id)
        except (KeyError, TypeError):
            return None  # not a device of this store, or not a label
        return image_of(label)


def image_of(label: SimLabel) -> DisplayedImage:
    return DisplayedImage(
        device_id=label.device_id,
        model=label.model,
        planes=label.planes(),
        revision=label.revision,
        content_hash=label.displayed_hash,
        source="simulator",
    )
