"""The catalogue of device models: what a model id means on the wire.

A model id is a u16: the high byte is the device kind, the low byte the variant. Labels encode
size in the high nibble of the variant and palette in the low nibble, so the id alone tells a
controller the resolution and the bit planes a label expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class DeviceKind(IntEnum):
    LABEL = 0x01
    SHELF_SENSOR = 0x02
    FITTING_ROOM = 0x03
    ACCESS_POINT = 0x04


class Palette(IntEnum):
    """Colours a panel shows; pixel index 0 is white, 1 black, 2 the accent colour."""

    BW = 1
    BWR = 2
    BWY = 3

    @property
    def plane_count(self) -> int:
        return 1 if self is Palette.BW else 2

    @property
    def colours(self) -> tuple[tuple[int, int, int], ...]:
        """RGB of each pixel index, in index order."""
        white, black = (255, 255, 255), (0, 0, 0)
        if self is Palette.BW:
            return (white, black)
        accent = (204, 0, 0) if self is Palette.BWR else (255, 204, 0)
        return (white, black, accent)


class ModelId(IntEnum):
    EPD154_BW = 0x0101
    EPD154_BWR = 0x0102
    EPD154_BWY = 0x0103
    EPD213_BW = 0x0111
    EPD213_BWR = 0x0112
    EPD213_BWY = 0x0113
    EPD290_BW = 0x0121
    EPD290_BWR = 0x0122
    EPD290_BWY = 0x0123
    EPD420_BW = 0x0131
    EPD420_BWR = 0x0132
    EPD420_BWY = 0x0133
    EPD750_BW = 0x0141
    EPD750_BWR = 0x0142
    EPD750_BWY = 0x0143
    SHELF_SENSOR_4 = 0x0201
    SHELF_SENSOR_8 = 0x0202
    FITTING_ROOM_DISPLAY = 0x0301
    ACCESS_POINT = 0x0401

    @property
    def kind(self) -> DeviceKind:
        return DeviceKind(self.value >> 8)


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """What a model is: its kind, and for panels the resolution and palette."""

    id: ModelId
    name: str
    diagonal_inch: float = 0.0
    width: int = 0
    height: int = 0
    palette: Palette | None = None
    lanes: int = 0
    text_lines: int = 0

    @property
    def kind(self) -> DeviceKind:
        return self.id.kind

    @property
    def has_panel(self) -> bool:
        return self.palette is not None

    @property
    def stride(self) -> int:
        """Bytes per row of one bit plane (rows are padded to whole bytes)."""
        return (self.width + 7) // 8

    @property
    def plane_size(self) -> int:
        return self.stride * self.height

    @property
    def frame_size(self) -> int:
        """Bytes of all bit planes of one full image, uncompressed."""
        if self.palette is None:
            return 0
        return self.plane_size * self.palette.plane_count


_PANELS = {
    0x010: ("epd154", 1.54, 152, 152),
    0x011: ("epd213", 2.13, 250, 122),
    0x012: ("epd290", 2.9, 296, 128),
    0x013: ("epd420", 4.2, 400, 300),
    0x014: ("epd750", 7.5, 800, 480),
}


def _build_catalogue() -> dict[ModelId, DeviceModel]:
    catalogue: dict[ModelId, DeviceModel] = {}
    for model_id in ModelId:
        if model_id.kind is DeviceKind.LABEL:
            stem, inch, width, height = _PANELS[model_id.value >> 4]
            palette = Palette(model_id.value & 0x0F)
            catalogue[model_id] = DeviceModel(
                model_id, f"{stem}-{palette.name.lower()}", inch, width, height, palette
            )
    catalogue[ModelId.SHELF_SENSOR_4] = DeviceModel(
        ModelId.SHELF_SENSOR_4, "shelf-sensor-4", lanes=4
    )
    catalogue[ModelId.SHELF_SENSOR_8] = DeviceModel(
        ModelId.SHELF_SENSOR_8, "shelf-sensor-8", lanes=8
    )
    catalogue[ModelId.FITTING_ROOM_DISPLAY] = DeviceModel(
        ModelId.FITTING_ROOM_DISPLAY, "fitting-room", text_lines=6
    )
    catalogue[ModelId.ACCESS_POINT] = DeviceModel(ModelId.ACCESS_POINT, "access-point")
    return catalogue


CATALOGUE: dict[ModelId, DeviceModel] = _build_catalogue()
LABEL_MODELS: tuple[DeviceModel, ...] = tuple(
    m for m in CATALOGUE.values() if m.kind is DeviceKind.LABEL
)


def model(model_id: ModelId | int) -> DeviceModel:
    return CATALOGUE[ModelId(model_id)]


def model_by_name(name: str) -> DeviceModel:
    for candidate in CATALOGUE.values():
        if candidate.name == name:
            return candidate
    known = ", ".join(m.name for m in CATALOGUE.values())
    raise KeyError(f"unknown device model {name!r}; known: {known}")
