"""SimLabel commands, battery and signed firmware updates, driven without a network."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_sim.behaviour import Behaviour
from device_sim.device import EMPTY_MV, FULL_MV, LedState
from device_sim.label import SimLabel
from device_sim.shelf_sensor import SimShelfSensor
from firmware_protocol.firmware import signed_manifest
from firmware_protocol.messages import (
    NO_HASH,
    Birth,
    Chunk,
    CommandResult,
    CommandStatus,
    Death,
    FastWake,
    FirmwareOffer,
    LedColour,
    LedFlash,
    LedPattern,
    Message,
    PageSwitch,
    Ping,
    Rebirth,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import ModelId, model
from firmware_protocol.planes import content_hash
from firmware_protocol.transfer import PreparedImage, bitmap_from_indices, prepare_image
from firmware_protocol.wire import FirmwareVersion
from tests.support.label_kit import (
    CHUNK,
    MODEL,
    A,
    C,
    make_label,
    offer,
    transfer,
)

# ---- offers the label cannot take, payloads that fail (§4.7 D4, §5.6 D5) ---------------------


def test_too_large_is_said_once_and_its_chunks_ignored() -> None:
    """TOO_LARGE is published once; the offer is dropped, its chunks ignored, nothing repeated."""
    label = make_label()
    small = prepare_image(A[:100], revision=1, xfer_id=10, chunk_size=CHUNK)
    assert [m.reason for m in label.handle(small.desired, 0.0) if isinstance(m, XferRequest)] == [
        XferReason.TOO_LARGE
    ]
    for chunk in small.chunks():
        assert label.handle(chunk, 0.5) == []
    assert label.wake(10.0, since=5.0) == []
    assert label.wake(20.0, since=10.0) == []


def test_integrity_failure_waits_for_a_new_offer_and_repeats() -> None:
    """INTEGRITY_FAILED keeps the transfer waiting: its chunks are discarded, the request is
    repeated at each wake without progress, and the same xfer_id again changes nothing."""
    label = make_label(Behaviour.instant(checkin_s=40.0))
    prepared = offer(A, 1, 10)
    wrong = PreparedImage(
        dataclasses.replace(prepared.desired, payload_crc=prepared.desired.payload_crc ^ 1),
        prepared.payload,
    )
    first = transfer(label, wrong)
    assert first == [XferRequest(1, 10, XferReason.INTEGRITY_FAILED, NO_HASH, b"")]
    assert transfer(label, wrong, 1.0) == []  # redelivered offer and chunks: discarded
    assert label.wake(10.0, since=5.0) == first
    assert label.wake(20.0, since=10.0) == first
    assert transfer(label, offer(A, 1, 11), 21.0) == [
        Reported(1, content_hash(A), 0, ReportResult.APPLIED)
    ]
    assert label.wake(30.0, since=20.0) == []


def _listening_requests(label: SimLabel, until: float, step: float = 0.25) -> list[float]:
    """The times at which an always-listening label asks, waking every `step` seconds."""
    times = []
    now = 0.0
    while now < until:
        now += step
        if any(isinstance(m, XferRequest) for m in label.wake(now, since=now - step)):
            times.append(now)
    return times


def test_always_listening_resume_repeats_with_doubling_backoff() -> None:
    """Always listening: the first request 2 s after the last progress, then 4, 8, 16, 32 and
    at most 60 s apart (§5.6)."""
    label = make_label(Behaviour.instant(resume_after_s=2.0))
    prepared = offer(A, 1, 10)
    label.handle(prepared.desired, 0.0)
    label.handle(prepared.chunk(0), 0.0)
    times = _listening_requests(label, 200.0)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise([0.0, *times])]
    assert gaps == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_always_listening_resume_wait_returns_to_2_s_on_progress() -> None:
    """A new chunk is progress: the next request comes 2 s after it, not after the backed-off
    wait."""
    label = make_label(Behaviour.instant(resume_after_s=2.0))
    prepared = offer(A, 1, 10)
    label.handle(prepared.desired, 0.0)
    _listening_requests(label, 15.0)  # requests at 2, 6, 14: the wait is now 16 s
    label.handle(prepared.chunk(1), 15.0)
    assert label.resume_due() == 17.0
    assert label.wake(17.0, since=16.0)[0].reason is XferReason.MISSING_CHUNKS  # type: ignore[union-attr]


# ---- commands -------------------------------------------------------------------------------


def test_led_flash_sets_led_until_duration() -> None:
    """LedFlash → OK and the LED state; a tick after the duration turns it off."""
    label = make_label()
    out = label.handle(
        LedFlash(txn=5, colour=LedColour.RED, pattern=LedPattern.DOUBLE, duration_s=10), 50.0
    )
    assert out == [CommandResult(5, CommandStatus.OK)]
    assert label.led == LedState(LedColour.RED, LedPattern.DOUBLE, 60.0)
    label.tick(59.0)
    assert label.led is not None
    label.tick(60.0)
    assert label.led is None


def test_ping_answers_ok_with_battery() -> None:
    """Ping → OK whose detail names the battery voltage."""
    label = make_label()
    assert label.handle(Ping(txn=6), 0.0) == [
        CommandResult(6, CommandStatus.OK, f"battery {label.battery_mv} mV")
    ]


def test_rebirth_publishes_birth_then_ok() -> None:
    """Rebirth: a Birth with the current session, then CommandResult OK (§7.6)."""
    label = make_label()
    session = label.session
    out = label.handle(Rebirth(txn=12), 1.0)
    assert [type(m) for m in out] == [Birth, CommandResult]
    assert isinstance(out[0], Birth)
    assert out[0].session == session
    assert out[1] == CommandResult(12, CommandStatus.OK)


def test_rebirth_keeps_the_session() -> None:
    """Rebirth publishes a Birth with the current session, not a new one (§7.6)."""
    label = make_label()
    session = label.session
    births = [m for m in label.handle(Rebirth(txn=12), 1.0) if isinstance(m, Birth)]
    assert [b.session for b in births] == [session]
    assert label.session == session


def test_fast_wake_shortens_wake_period_for_its_duration() -> None:
    """FastWake → OK; the wake period is the interval until the duration ends."""
    label = make_label(Behaviour(checkin_s=40.0, checkin_jitter=0.0))
    out = label.handle(FastWake(txn=8, duration_s=60, interval_ms=500), 10.0)
    assert out == [CommandResult(8, CommandStatus.OK)]
    assert (label.fast_wake_until, label.fast_wake_interval_s) == (70.0, 0.5)
    assert label.wake_period(69.9) == 0.5
    assert label.wake_period(70.0) == 40.0


@pytest.mark.parametrize(
    "command",
    [
        PageSwitch(txn=9, page=1, duration_s=0),
        FirmwareOffer(
            txn=9,
            xfer_id=1,
            model=ModelId.SHELF_SENSOR_4,
            version=FirmwareVersion(2, 0, 0),
            size=10,
            chunk_size=10,
            sha256=bytes(32),
            signature=bytes(64),
        ),
    ],
    ids=["page-switch", "firmware-offer"],
)
def test_unsupported_command_on_sensor(command: Message) -> None:
    """A shelf sensor answers a label-only command with UNSUPPORTED for its txn."""
    sensor = SimShelfSensor(
        "shelf-1", model(ModelId.SHELF_SENSOR_4), Behaviour.instant(), random.Random(1)
    )
    out = sensor.handle(command, 0.0)
    assert [(m.txn, m.status) for m in out if isinstance(m, CommandResult)] == [
        (9, CommandStatus.UNSUPPORTED)
    ]
    assert len(out) == 1


# ---- battery --------------------------------------------------------------------------------


def test_battery_drops_with_refreshes_and_radio() -> None:
    """Each panel refresh and each KB of radio lowers battery_mv; it bottoms out at EMPTY_MV."""
    label = make_label(Behaviour.instant(battery_mah=1.0))  # small, so 1 refresh shows in mV
    assert label.battery_mv == FULL_MV
    transfer(label, offer(A, 1, 10))
    after_refresh = label.battery_mv
    assert after_refresh < FULL_MV
    transfer(label, offer(C, 2, 11))
    assert label.battery_mv < after_refresh
    before_radio = label.battery_mv
    label.spend_radio(4096)
    assert label.battery_mv < before_radio
    label.spend_radio(10_000_000)
    assert label.battery_mv == EMPTY_MV


def test_unchanged_desired_does_not_refresh() -> None:
    """An UNCHANGED answer costs no refresh charge."""
    label = make_label(Behaviour.instant(battery_mah=1.0))
    transfer(label, offer(A, 1, 10))
    used = label.charge_used_mas
    label.handle(offer(A, 1, 11).desired, 1.0)
    assert label.charge_used_mas == used


# ---- firmware -------------------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
IMAGE = random.Random(3).randbytes(3000)
FW_CHUNK = 1000
NEW_VERSION = FirmwareVersion(1, 1, 0)


def firmware_offer(
    *,
    version: FirmwareVersion = NEW_VERSION,
    model_id: ModelId = MODEL.id,
    image: bytes = IMAGE,
    signed_sha: bytes | None = None,
    key: Ed25519PrivateKey = KEY,
    txn: int = 40,
    xfer_id: int = 77,
) -> FirmwareOffer:
    sha = hashlib.sha256(image).digest() if signed_sha is None else signed_sha
    signature = key.sign(signed_manifest(model_id, version, len(image), sha))
    return FirmwareOffer(txn, xfer_id, model_id, version, len(image), FW_CHUNK, sha, signature)


def firmware_chunks(image: bytes, xfer_id: int = 77) -> list[Chunk]:
    return [
        Chunk(xfer_id, i, image[i * FW_CHUNK : (i + 1) * FW_CHUNK])
        for i in range(-(-len(image) // FW_CHUNK))
    ]


def fw_label() -> SimLabel:
    return make_label(vendor_key=KEY.public_key())


def statuses(out: list[Message]) -> list[tuple[int, CommandStatus]]:
    return [(m.txn, m.status) for m in out if isinstance(m, CommandResult)]


def test_signed_firmware_update_installs_and_reboots() -> None:
    """A valid newer signed offer: IN_PROGRESS, chunks, OK, new version, a reboot (new session)."""
    label = fw_label()
    transfer(label, offer(A, 1, 10))
    session = label.session
    assert statuses(label.handle(firmware_offer(), 1.0)) == [(40, CommandStatus.IN_PROGRESS)]
    chunks = firmware_chunks(IMAGE)
    for chunk in chunks[:-1]:
        assert label.handle(chunk, 2.0) == []
    out = label.handle(chunks[-1], 3.0)
    assert statuses(out) == [(40, CommandStatus.OK)]
    assert out[1] == Death(session)  # §7.7 step 6: the Death, then the reboot's Birth
    assert label.firmware == FirmwareVersion(1, 1, 0)
    assert label.session == session + 1
    births = [m for m in out if isinstance(m, Birth)]
    assert [(b.session, b.firmware) for b in births] == [(session + 1, FirmwareVersion(1, 1, 0))]
    assert out[-1] == Reported(1, content_hash(A), 0, ReportResult.BOOT)
    assert label.planes() == A


@pytest.mark.parametrize("version", [FirmwareVersion(1, 0, 0), FirmwareVersion(0, 9, 9)])
def test_firmware_not_newer_is_refused(version: FirmwareVersion) -> None:
    """An equal or older firmware version → DOWNGRADE_REFUSED; its chunks install nothing."""
    label = fw_label()
    assert statuses(label.handle(firmware_offer(version=version), 0.0)) == [
        (40, CommandStatus.DOWNGRADE_REFUSED)
    ]
    for chunk in firmware_chunks(IMAGE):
        assert label.handle(chunk, 1.0) == []
    assert label.firmware == FirmwareVersion(1, 0, 0)


def test_firmware_for_other_model_is_refused() -> None:
    """An offer for another model → WRONG_MODEL."""
    label = fw_label()
    out = label.handle(firmware_offer(model_id=ModelId.EPD213_BWR), 0.0)
    assert statuses(out) == [(40, CommandStatus.WRONG_MODEL)]
    assert label.firmware_assembler is None


@pytest.mark.parametrize("fault", ["other-key", "tampered-version", "no-vendor-key"])
def test_firmware_with_bad_signature_is_refused(fault: str) -> None:
    """A signature the pinned vendor key does not verify → BAD_SIGNATURE; nothing installed."""
    label = fw_label()
    good = firmware_offer()
    if fault == "other-key":
        bad = firmware_offer(key=Ed25519PrivateKey.generate())
    elif fault == "tampered-version":
        bad = dataclasses.replace(good, version=FirmwareVersion(9, 0, 0))
    else:
        label.vendor_key = None
        bad = good
    assert statuses(label.handle(bad, 0.0)) == [(40, CommandStatus.BAD_SIGNATURE)]
    for chunk in firmware_chunks(IMAGE):
        assert label.handle(chunk, 1.0) == []
    assert label.firmware == FirmwareVersion(1, 0, 0)


def test_firmware_with_wrong_sha256_fails() -> None:
    """An image whose SHA-256 is not the signed one → FAILED; version and session unchanged."""
    label = fw_label()
    session = label.session
    other = random.Random(4).randbytes(len(IMAGE))
    signed = firmware_offer(signed_sha=hashlib.sha256(other).digest())
    assert statuses(label.handle(signed, 0.0)) == [(40, CommandStatus.IN_PROGRESS)]
    out: list[Message] = []
    for chunk in firmware_chunks(IMAGE):
        out += label.handle(chunk, 1.0)
    assert statuses(out) == [(40, CommandStatus.FAILED)]
    assert len(out) == 1
    assert (label.firmware, label.session) == (FirmwareVersion(1, 0, 0), session)


def test_a_repeated_firmware_offer_gets_its_latest_status() -> None:
    """§7.1: the offer's txn is answered IN_PROGRESS again while the download runs, and with
    the final status (here FAILED, a wrong image) once it ended; nothing starts again."""
    label = fw_label()
    other = random.Random(4).randbytes(len(IMAGE))
    signed = firmware_offer(signed_sha=hashlib.sha256(other).digest())
    assert statuses(label.process(signed, 0.0)) == [(40, CommandStatus.IN_PROGRESS)]
    assert statuses(label.process(signed, 0.5)) == [(40, CommandStatus.IN_PROGRESS)]
    out: list[Message] = []
    for chunk in firmware_chunks(IMAGE):
        out += label.process(chunk, 1.0)
    assert statuses(out) == [(40, CommandStatus.FAILED)]
    assert statuses(label.process(signed, 2.0)) == [(40, CommandStatus.FAILED)]
    assert label.firmware_assembler is None


def test_firmware_transfer_resumes_at_a_wake() -> None:
    """A firmware transfer missing chunks asks for them at a wake, with revision 0."""
    label = fw_label()
    label.handle(firmware_offer(), 0.0)
    chunks = firmware_chunks(IMAGE)
    label.handle(chunks[0], 1.0)
    assert label.wake(10.0, since=5.0) == [
        XferRequest(0, 77, XferReason.MISSING_CHUNKS, NO_HASH, bitmap_from_indices([1, 2], 3))
    ]
