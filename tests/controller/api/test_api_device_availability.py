"""What the API says about devices behind an access point and about forged births (issue 12,
findings 2 and 11), through the real HTTP stack over a real SQLite file."""

from __future__ import annotations

from controller.state.devices_repo import device
from firmware_protocol.messages import NO_HASH, Birth, Death
from firmware_protocol.models import ModelId
from firmware_protocol.topics import DeviceAddress
from firmware_protocol.wire import FirmwareVersion
from tests.controller.api.api_kit import open_api, settings_for

STORE = "s1"
LABELS = ("lbl-00001", "lbl-00002")


def _birth(session: int, model: ModelId) -> Birth:
    return Birth(session, model, FirmwareVersion(1, 0, 0), 4096, 3000, 0, 2, 0, NO_HASH, 0)


async def test_finding_11_the_api_lists_the_labels_of_a_dead_access_point_as_offline(tmp_path):
    """After the access point's Death, /devices?offline=true and /problems count its labels;
    after its next Birth they are online again."""
    settings = settings_for(tmp_path, STORE, adopt_access_points=("ap-*",))
    async with open_api(settings) as api:
        fleet = api.controller.fleet
        ap = DeviceAddress(STORE, "ap-01", "ap-01")
        await fleet.on_birth(ap, _birth(1, ModelId.ACCESS_POINT))
        for label in LABELS:
            await fleet.on_birth(
                DeviceAddress(STORE, "ap-01", label), _birth(1, ModelId.EPD290_BWR)
            )
        viewer = api.as_("viewer")

        async def offline() -> tuple[set[str], int]:
            listed = await api.client.get(
                "/api/v1/devices", params={"offline": "true"}, headers=viewer
            )
            counted = await api.client.get("/api/v1/problems", headers=viewer)
            assert listed.status_code == counted.status_code == 200
            ids = {found["device_id"] for found in listed.json()["devices"]}
            return ids, counted.json()["offline"]

        assert await offline() == (set(), 0)
        await fleet.on_death(ap, Death(1))
        assert await offline() == ({"ap-01", *LABELS}, 3)
        await fleet.on_birth(ap, _birth(2, ModelId.ACCESS_POINT))
        assert await offline() == (set(), 0)


async def test_finding_2_a_forged_birth_via_a_label_registers_nothing(tmp_path):
    """A Birth for another label under a label's gateway neither registers it nor moves it."""
    async with open_api(settings_for(tmp_path, STORE)) as api:
        fleet = api.controller.fleet
        await fleet.on_birth(
            DeviceAddress(STORE, "lbl-00001", "lbl-00001"), _birth(1, ModelId.EPD290_BWR)
        )
        await fleet.on_birth(
            DeviceAddress(STORE, "lbl-00002", "lbl-00002"), _birth(1, ModelId.EPD290_BWR)
        )
        forged = DeviceAddress(STORE, "lbl-00001", "lbl-00002")
        assert not await fleet.admits(forged, _birth(9, ModelId.EPD290_BWR))
        await fleet.on_birth(forged, _birth(9, ModelId.EPD290_BWR))
        await fleet.on_birth(
            DeviceAddress(STORE, "lbl-00001", "lbl-77777"), _birth(1, ModelId.EPD290_BWR)
        )
        victim = await device(api.controller.conn, "lbl-00002")
        assert victim is not None
        assert (victim.gateway_id, victim.session) == ("lbl-00002", 1)
        assert await device(api.controller.conn, "lbl-77777") is None
        listed = await api.client.get("/api/v1/devices", headers=api.as_("viewer"))
        assert listed.json()["total"] == 2
