"""The reference label (examples/reference_label/), run as a process against the real Mosquitto.

It is written from PROTOCOL.md alone (it imports nothing from this repository); these tests drive
it with the omnishelf codec playing the controller, then through `omnishelf conformance`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conformance.runner import NAMES
from controller.local_broker import LocalBroker
from firmware_protocol import encode
from firmware_protocol.firmware import signed_manifest
from firmware_protocol.messages import (
    Birth,
    Chunk,
    CommandResult,
    CommandStatus,
    Compression,
    Death,
    FirmwareOffer,
    Ping,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import ModelId
from firmware_protocol.transfer import chunk_size_for, indices_from_bitmap, prepare_image
from firmware_protocol.wire import FirmwareVersion
from tests.examples.reference_label_kit import (
    DEFECT_FAILS,
    bare_controller,
    reference_label,
    run_conformance,
)

FRAME_BYTES = 9472  # EPD290_BWR, the label's default model


def planes(seed: int) -> bytes:
    """A deterministic test image of the label's size."""
    stream = b"".join(hashlib.sha256(f"{seed}-{i}".encode()).digest() for i in range(296))
    return stream[:FRAME_BYTES]


def chunk_size(store: str, device: str) -> int:
    return chunk_size_for(1024, f"os1/{store}/down/{device}/{device}/chunk")


def test_boots_applies_full_and_delta_and_remembers_them(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """Birth retained with session 1 and a BOOT report; a FULL+ZLIB then a delta are applied;
    after a restart it is born with session 2 and reports BOOT with the revision it shows."""
    device = "lbl-0001"
    state = tmp_path / "state"
    with bare_controller(broker, store_id, device) as ctl:
        with reference_label(broker, store_id, device, state):
            _, _, birth = ctl.expect(lambda c, r, m: isinstance(m, Birth))
            assert isinstance(birth, Birth)
            assert ctl.retained("birth") == birth
            assert (birth.session, birth.pages, birth.displayed_revision) == (1, 2, 0)
            ctl.expect(lambda c, r, m: isinstance(m, Reported) and m.result is ReportResult.BOOT)
            size = chunk_size(store_id, device)
            first = prepare_image(planes(1), revision=5, xfer_id=1, chunk_size=size)
            ctl.publish("desired", first.desired, retain=True)
            for chunk in first.chunks():
                ctl.publish("chunk", chunk)
            _, _, applied = ctl.expect(lambda c, r, m: isinstance(m, Reported))
            assert applied == Reported(5, first.desired.content_hash, 0, ReportResult.APPLIED)
            changed = bytearray(planes(1))
            changed[100:110] = bytes(10)
            delta = prepare_image(
                bytes(changed), revision=6, xfer_id=2, chunk_size=size, base=planes(1)
            )
            assert delta.desired.encoding.name == "DELTA_XOR"
            ctl.publish("desired", delta.desired, retain=True)
            for chunk in delta.chunks():
                ctl.publish("chunk", chunk)
            _, _, applied = ctl.expect(lambda c, r, m: isinstance(m, Reported))
            assert applied == Reported(6, delta.desired.content_hash, 0, ReportResult.APPLIED)
        with reference_label(broker, store_id, device, state):
            _, _, birth = ctl.expect(lambda c, r, m: isinstance(m, Birth))
            assert isinstance(birth, Birth)
            assert (birth.session, birth.displayed_revision) == (2, 6)
            _, _, boot = ctl.expect(lambda c, r, m: isinstance(m, Reported))
            assert boot == Reported(6, delta.desired.content_hash, 0, ReportResult.BOOT)
            _, _, again = ctl.expect(lambda c, r, m: isinstance(m, Reported))  # retained Desired
            assert again == Reported(6, delta.desired.content_hash, 0, ReportResult.UNCHANGED)


def test_asks_for_a_lost_chunk_and_drops_a_corrupt_frame(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """A withheld chunk is asked for by MISSING_CHUNKS after ~2 s; a Ping with a bad CRC is not
    answered, the next good one is."""
    device = "lbl-0002"
    with (
        bare_controller(broker, store_id, device) as ctl,
        reference_label(broker, store_id, device, tmp_path / "state"),
    ):
        ctl.expect(lambda c, r, m: isinstance(m, Reported))
        image = prepare_image(
            planes(2),
            revision=1,
            xfer_id=7,
            chunk_size=chunk_size(store_id, device),
            compression=Compression.NONE,
        )
        chunks = list(image.chunks())
        assert len(chunks) >= 3
        ctl.publish("desired", image.desired, retain=True)
        for chunk in chunks:
            if chunk.index != 1:
                ctl.publish("chunk", chunk)
        _, _, request = ctl.expect(lambda c, r, m: isinstance(m, XferRequest))
        assert isinstance(request, XferRequest)
        assert request.reason is XferReason.MISSING_CHUNKS
        assert request.missing[0] == 0x40
        assert not any(request.missing[1:])
        ctl.publish("chunk", Chunk(7, 1, chunks[1].data))
        _, _, applied = ctl.expect(lambda c, r, m: isinstance(m, Reported))
        assert isinstance(applied, Reported)
        assert applied.result is ReportResult.APPLIED

        bad = bytearray(encode(Ping(txn=11)))
        bad[-1] ^= 1
        ctl.publish("cmd", bytes(bad))
        ctl.publish("cmd", Ping(txn=12))
        _, _, result = ctl.expect(lambda c, r, m: isinstance(m, CommandResult))
        assert result == CommandResult(12, CommandStatus.OK, "")


def test_passes_every_conformance_scenario(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """`omnishelf conformance` passes all 13 scenarios against the reference label and exits 0."""
    device = "lbl-0003"
    with reference_label(broker, store_id, device, tmp_path / "state"):
        status, outcomes, output = run_conformance(
            broker, store_id, device, tmp_path / "report.json"
        )
    assert outcomes == dict.fromkeys(NAMES, "PASS"), output
    assert status == 0


# Run in full (every scenario) to prove "exactly": the others pass. The rest run their own
# scenario only here, and in full under the slow marker.
FULL_RUN_DEFECTS = ("delta-ignores-xor", "no-frame-crc", "rebirth-new-session")
# A scenario's part that needs another's images first: commands repeats a PageSwitch txn only
# once page-switch has drawn pages 0 and 1.
PREREQUISITES = {"commands": ("page-switch",)}
# Scenarios that switch pages and wait for the label's Reported shown_page: a label that never
# reports its page fails them as well as page-switch itself.
NEEDS_PAGE_REPORTS = ("commands", "malformed")


def expected_failures(scenario: str) -> set[str]:
    """The scenarios a defect covered by `scenario` fails in a full run."""
    return {scenario, *(NEEDS_PAGE_REPORTS if scenario == "page-switch" else ())}


@pytest.mark.parametrize("defect", sorted(DEFECT_FAILS))
def test_a_deliberate_defect_fails_its_scenario(
    broker: LocalBroker, store_id: str, tmp_path: Path, defect: str
) -> None:
    """With `--defect NAME` the scenario that covers it fails (and, in a full run, only it)."""
    device = "lbl-0004"
    full = defect in FULL_RUN_DEFECTS
    scenario = DEFECT_FAILS[defect]
    scenarios = () if full else (*PREREQUISITES.get(scenario, ()), scenario)
    with reference_label(broker, store_id, device, tmp_path / "state", "--defect", defect):
        status, outcomes, output = run_conformance(
            broker, store_id, device, tmp_path / "report.json", *scenarios
        )
    failed = {name for name, outcome in outcomes.items() if outcome == "FAIL"}
    assert failed == {DEFECT_FAILS[defect]}, output
    if full:
        assert set(outcomes) == set(NAMES)
        assert set(outcomes.values()) == {"PASS", "FAIL"}
    assert status == 1


@pytest.mark.slow
@pytest.mark.parametrize("defect", sorted(set(DEFECT_FAILS) - set(FULL_RUN_DEFECTS)))
def test_a_deliberate_defect_fails_exactly_its_scenario(
    broker: LocalBroker, store_id: str, tmp_path: Path, defect: str
) -> None:
    """The full matrix: with `--defect NAME` every scenario but the one that covers it passes."""
    device = "lbl-0005"
    with reference_label(broker, store_id, device, tmp_path / "state", "--defect", defect):
        status, outcomes, output = run_conformance(
            broker, store_id, device, tmp_path / "report.json"
        )
    failing = expected_failures(DEFECT_FAILS[defect])
    assert outcomes == {name: "FAIL" if name in failing else "PASS" for name in NAMES}, output
    assert status == 1


@pytest.mark.slow
def test_a_sleepy_reference_label_passes_every_scenario_too(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """With `--checkin 3` (down messages handled only at wakes, one resume request per wake) the
    reference label still passes all 13 scenarios, under the sleepy timeouts (§6, §5.6)."""
    device = "lbl-0006"
    with reference_label(broker, store_id, device, tmp_path / "state", "--checkin", "3"):
        status, outcomes, output = run_conformance(
            broker, store_id, device, tmp_path / "report.json"
        )
    assert outcomes == dict.fromkeys(NAMES, "PASS"), output
    assert status == 0


RFC8032_TEST_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"


def test_installs_signed_firmware_and_is_born_with_it(
    broker: LocalBroker, store_id: str, tmp_path: Path
) -> None:
    """§7.7 end to end: a newer image signed with the pinned (RFC 8032 test) key is answered
    IN_PROGRESS, downloaded with a lost chunk resumed, answered OK, and the label reboots into
    it: Death, then a Birth with a new session and the new version."""
    device = "lbl-0007"
    image = bytes(range(256)) * 20  # 5,120 bytes
    version = FirmwareVersion(1, 1, 0)
    digest = hashlib.sha256(image).digest()
    size = chunk_size(store_id, device)
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_TEST_SECRET))
    signature = key.sign(signed_manifest(ModelId.EPD290_BWR, version, len(image), digest))
    offer = FirmwareOffer(
        txn=21,
        xfer_id=0x5001,
        model=ModelId.EPD290_BWR,
        version=version,
        size=len(image),
        chunk_size=size,
        sha256=digest,
        signature=signature,
    )
    with (
        bare_controller(broker, store_id, device) as ctl,
        reference_label(broker, store_id, device, tmp_path / "state"),
    ):
        ctl.expect(lambda c, r, m: isinstance(m, Reported))
        ctl.publish("cmd", offer)
        _, _, accepted = ctl.expect(lambda c, r, m: isinstance(m, CommandResult))
        assert isinstance(accepted, CommandResult)
        assert accepted.status is CommandStatus.IN_PROGRESS
        pieces = [image[i : i + size] for i in range(0, len(image), size)]
        for index, data in enumerate(pieces):
            if index != 2:
                ctl.publish("chunk", Chunk(0x5001, index, data))
        _, _, request = ctl.expect(lambda c, r, m: isinstance(m, XferRequest))
        assert isinstance(request, XferRequest)
        assert (request.revision, request.xfer_id, request.have_hash) == (0, 0x5001, bytes(16))
        assert indices_from_bitmap(request.missing, len(pieces)) == [2]
        ctl.publish("chunk", Chunk(0x5001, 2, pieces[2]))
        _, _, done = ctl.expect(lambda c, r, m: isinstance(m, CommandResult))
        assert done == CommandResult(21, CommandStatus.OK, "")
        _, _, gone = ctl.expect(lambda c, r, m: isinstance(m, Death))
        assert gone == Death(1)
        _, _, born = ctl.expect(lambda c, r, m: isinstance(m, Birth))
        assert isinstance(born, Birth)
        assert (born.session, born.firmware) == (2, version)
    assert (tmp_path / "state" / "firmware-slot.bin").read_bytes() == image
