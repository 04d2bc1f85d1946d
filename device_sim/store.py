"""A whole simulated store: which devices exist, on which gateway, seeded.

Labels mix the models a real store uses (mostly 2.13" and 2.9" shelf-edge labels, some 1.54",
a few 4.2" and 7.5" promotion boards; most three-colour). With access points, labels are spread
across them round-robin; shelf sensors and fitting rooms connect directly (mains-powered Wi-Fi).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_sim.behaviour import Behaviour
from device_sim.fitting_room import SimFittingRoom
from device_sim.gateway import Gateway
from device_sim.label import SimLabel
from device_sim.sessions import SessionCounters
from device_sim.shelf_sensor import ShelfNoise, SimShelfSensor
from firmware_protocol.models import DeviceModel, ModelId, model

LABEL_MIX: tuple[tuple[ModelId, int], ...] = (
    (ModelId.EPD213_BWR, 30),
    (ModelId.EPD290_BWR, 28),
    (ModelId.EPD213_BW, 10),
    (ModelId.EPD290_BWY, 8),
    (ModelId.EPD154_BWR, 10),
    (ModelId.EPD154_BW, 4),
    (ModelId.EPD420_BWR, 6),
    (ModelId.EPD420_BWY, 2),
    (ModelId.EPD750_BWR, 2),
)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    store: str
    labels: int
    sensors: int = 0
    fitting_rooms: int = 0
    access_points: int = 0
    label_models: tuple[ModelId, ...] = ()  # empty: the realistic mix


def _pick_models(spec: StoreSpec, rng: random.Random) -> list[DeviceModel]:
    if spec.label_models:
        return [model(spec.label_models[i % len(spec.label_models)]) for i in range(spec.labels)]
    ids = [m for m, _ in LABEL_MIX]
    weights = [w for _, w in LABEL_MIX]
    return [model(m) for m in rng.choices(ids, weights, k=spec.labels)]


def label_id(n: int) -> str:
    return f"lbl-{n:05d}"


def build_store(
    spec: StoreSpec,
    behaviour: Behaviour,
    *,
    vendor_key: Ed25519PublicKey | None = None,
    fitting_room_epcs: tuple[str, ...] = (),
    shelf_noise: ShelfNoise | None = None,
    counters: SessionCounters | None = None,
) -> list[Gateway]:
    """The gateways of a store, each holding its devices; shelf sensors weigh with
    `shelf_noise`'s model when given (shelf_sensor.py); with `counters`, every session counter
    continues above the previous run's (sessions.py)."""
    rng = random.Random(f"{behaviour.seed}:{spec.store}")  # noqa: S311 - simulation
    gateways: list[Gateway] = []
    aps = [
        Gateway(f"ap-{i + 1:02d}", spec.store, behaviour, is_access_point=True)
        for i in range(spec.access_points)
    ]
    gateways += aps
    for n, label_model in enumerate(_pick_models(spec, rng), start=1):
        device_id = label_id(n)
        label = SimLabel(
            device_id,
            label_model,
            behaviour,
            random.Random(f"{behaviour.seed}:{device_id}"),  # noqa: S311
            vendor_key=vendor_key,
        )
        if aps:
            aps[(n - 1) % len(aps)].add(label)
        else:
            gateways.append(_direct(spec.store, behaviour, label))
    for n in range(1, spec.sensors + 1):
        device_id = f"shelf-{n:03d}"
        sensor_model = model(ModelId.SHELF_SENSOR_4 if n % 3 else ModelId.SHELF_SENSOR_8)
        sensor = SimShelfSensor(
            device_id,
            sensor_model,
            behaviour,
            random.Random(f"{behaviour.seed}:{device_id}"),  # noqa: S311
            noise=shelf_noise,
        )
        gateways.append(_direct(spec.store, behaviour, sensor))
    for n in range(1, spec.fitting_rooms + 1):
        device_id = f"fit-{n:02d}"
        room = SimFittingRoom(
            device_id,
            model(ModelId.FITTING_ROOM_DISPLAY),
            behaviour,
            random.Random(f"{behaviour.seed}:{device_id}"),  # noqa: S311
            catalogue_epcs=fitting_room_epcs,
        )
        gateways.append(_direct(spec.store, behaviour, room))
    if counters is not None:
        _continue_sessions(gateways, counters)
    return gateways


def _continue_sessions(gateways: list[Gateway], counters: SessionCounters) -> None:
    keys = [gw.gateway_id for gw in gateways if gw.is_access_point]
    keys += [device_id for gw in gateways for device_id in gw.devices]
    first = counters.start(keys)
    for gw in gateways:
        gw.counters = counters
        if gw.is_access_point:
            gw.ap_session = first[gw.gateway_id]
        for device in gw.devices.values():
            device.session = first[device.device_id]
            device.counters = counters


def _direct(
    store: str, behaviour: Behaviour, device: SimLabel | SimShelfSensor | SimFittingRoom
) -> Gateway:
    gateway = Gateway(device.device_id, store, behaviour)
    gateway.add(device)
    return gateway
