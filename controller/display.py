"""What a label displays, as an image for people (the console's store wall, a label's page).

A label proves what it shows by reporting the content hash of its panel's bit planes (PROTOCOL.md
§4.7). The controller keeps the planes of the images it sent, so the planes whose hash equals the
reported one *are* the displayed image: `ReportedImages` answers from those, and says "unknown"
when the label reports a hash the controller never sent (then nobody can show it).

In the demo, the simulator is in the same process and can answer from the panel memory itself
(`device_sim`'s display source): the console then shows the simulator's own pixels. Both implement
`DisplaySource`, so the console does not care which one it has.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Protocol

import aiosqlite
from PIL import Image

from firmware_protocol.messages import NO_HASH
from firmware_protocol.models import DeviceModel, ModelId, model
from firmware_protocol.planes import content_hash, unpack_planes


@dataclass(frozen=True, slots=True)
class DisplayedImage:
    device_id: str
    model: DeviceModel
    planes: bytes | None  # None: blank (never written) or a hash the controller does not know
    revision: int
    content_hash: bytes
    source: str  # "reported" (the controller's planes with the reported hash) or "simulator"

    def png(self, scale: int = 1) -> bytes:
        return planes_png(self.planes, self.model, scale)


class DisplaySource(Protocol):
    async def displayed(self, device_id: str) -> DisplayedImage | None: ...


def planes_png(planes: bytes | None, panel: DeviceModel, scale: int = 1) -> bytes:
    """The panel as a shopper sees it (white where nothing was ever written), as PNG."""
    palette = panel.palette
    if palette is None:
        raise ValueError(f"{panel.name} has no panel")
    pixels = unpack_planes(planes, panel) if planes else bytes(panel.width * panel.height)
    image = Image.frombytes("P", (panel.width, panel.height), pixels)
    flat = [c for rgb in palette.colours for c in rgb]
    image.putpalette(flat + [0] * (768 - len(flat)))
    if scale > 1:
        image = image.resize((panel.width * scale, panel.height * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class ReportedImages:
    """The image each label reports showing, from the planes the controller sent it."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def displayed(self, device_id: str) -> DisplayedImage | None:
        async with self.conn.execute(
            "SELECT d.model, s.reported_revision, s.reported_hash, s.desired_hash,"
            " s.desired_planes, s.shown_planes FROM devices d"
            " LEFT JOIN label_state s USING (device_id) WHERE d.device_id = ?",
            (device_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        try:
            panel = model(ModelId(row[0]))
        except ValueError:
            return None
        if panel.palette is None:
            return None
        reported = row[2] or NO_HASH
        planes = None
        for stored in (row[5], row[4]):  # shown planes first, then the desired ones
            if stored is not None:
                candidate = zlib.decompress(stored)
                if content_hash(candidate) == reported:
                    planes = candidate
                    break
        return DisplayedImage(device_id, panel, planes, row[1] or 0, reported, "reported")
