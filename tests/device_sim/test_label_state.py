"""SimLabel as a sans-IO state machine: desired/reported state, transfers, commands, firmware."""

from __future__ import annotations

import dataclasses
import hashlib
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
    Encoding,
    FastWake,
    FirmwareOffer,
    LedColour,
    LedFlash,
    LedPattern,
    Message,
    PageSwitch,
    Ping,
    Rebirth,
    Reboot,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.models import ModelId, model
from firmware_protocol.planes import content_hash, pack_planes
from firmware_protocol.transfer import PreparedImage, bitmap_from_indices, prepare_image
from firmware_protocol.wire import FirmwareVersion

MODEL = model(ModelId.EPD290_BWR)
CHUNK = 256


def make_label(behaviour: Behaviour | None = None, **kwargs: object) -> SimLabel:
    label = SimLabel("lbl-1", MODEL, behaviour or Behaviour.instant(), random.Random(1), **kwargs)
    label.boot(0.0)
    return label


def planes_of(seed: int, box: tuple[int, int, int, int] | None = None) -> bytes:
    """Random three-colour noise in the top 40 rows (so payloads need many chunks), plus a box."""
    rng = random.Random(seed)
    w, h = MODEL.width, MODEL.height
    pixels = bytearray(w * h)
    pixels[: w * 40] = bytes(rng.choice((0, 1, 2)) for _ in range(w * 40))
    if box is not None:
        x0, y0, x1, y1 = box
        for y in range(y0, y1):
            pixels[y * w + x0 : y * w + x1] = b"\x01" * (x1 - x0)
    return pack_planes(bytes(pixels), MODEL)


def offer(
    planes: bytes,
    revision: int,
    xfer_id: int,
    *,
    base: bytes | None = None,
    page: int = 0,
) -> PreparedImage:
    return prepare_image(
        planes, revision=revision, xfer_id=xfer_id, chunk_size=CHUNK, page=page, base=base
    )


def transfer(label: SimLabel, prepared: PreparedImage, now: float = 0.0) -> list[Message]:
    out = label.handle(prepared.desired, now)
    for chunk in prepared.chunks():
        out += label.handle(chunk, now)
    return out


def applied(revision: int, planes: bytes, page: int = 0) -> Reported:
    return Reported(revision, content_hash(planes), page, ReportResult.APPLIED)


A = planes_of(1)
B = planes_of(1, box=(200, 60, 260, 100))  # A plus a black box: a small delta
C = planes_of(2)


# ---- desired state --------------------------------------------------------------------------


def test_newer_revisions_apply_full_then_delta() -> None:
    """A full frame then a delta against it are applied and reported with their content hash."""
    label = make_label()
    full = offer(A, 1, 10)
    assert full.desired.encoding is Encoding.FULL
    assert full.desired.chunk_count > 3
    assert transfer(label, full, 1.0) == [applied(1, A)]
    assert label.planes() == A

    delta = offer(B, 2, 11, base=A)
    assert delta.desired.encoding is Encoding.DELTA_XOR
    assert transfer(label, delta, 2.0) == [applied(2, B)]
    assert (label.revision, label.displayed_hash, label.planes()) == (2, content_hash(B), B)
    assert label.stats.applied == 2


def test_equal_revision_is_unchanged() -> None:
    """A Desired with the displayed revision is a no-op answered UNCHANGED, starting nothing."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    again = offer(C, 1, 11)
    assert label.handle(again.desired, 1.0) == [
        Reported(1, content_hash(A), 0, ReportResult.UNCHANGED)
    ]
    assert label.pending is None
    assert label.planes() == A


def test_older_revision_is_stale_ignored() -> None:
    """A Desired older than the displayed revision is answered STALE_IGNORED and ignored."""
    label = make_label()
    transfer(label, offer(A, 5, 10))
    old = offer(C, 4, 11)
    assert label.handle(old.desired, 1.0) == [
        Reported(5, content_hash(A), 0, ReportResult.STALE_IGNORED)
    ]
    assert transfer(label, old, 2.0)[1:] == []  # its chunks go nowhere either
    assert (label.revision, label.planes()) == (5, A)
    assert label.stats.stale_ignored == 2


def test_duplicate_desired_does_not_restart_transfer() -> None:
    """The same offer (same xfer_id) arriving again keeps the chunks already received."""
    label = make_label()
    prepared = offer(A, 1, 10)
    chunks = list(prepared.chunks())
    assert label.handle(prepared.desired, 0.0) == []
    for chunk in chunks[:3]:
        assert label.handle(chunk, 0.0) == []
    assert label.handle(prepared.desired, 0.5) == []
    assert label.assembler is not None
    assert label.assembler.received == 3
    out: list[Message] = []
    for chunk in chunks[3:]:
        out += label.handle(chunk, 1.0)
    assert out == [applied(1, A)]


def test_newer_desired_replaces_transfer_in_progress() -> None:
    """A newer revision mid-transfer replaces it: the old chunks are ignored, the new applies."""
    label = make_label()
    first, second = offer(A, 1, 10), offer(C, 2, 20)
    first_chunks = list(first.chunks())
    label.handle(first.desired, 0.0)
    for chunk in first_chunks[:2]:
        label.handle(chunk, 0.0)
    assert label.handle(second.desired, 1.0) == []
    assert label.pending == second.desired
    for chunk in first_chunks:
        assert label.handle(chunk, 1.5) == []
    out: list[Message] = []
    for chunk in second.chunks():
        out += label.handle(chunk, 2.0)
    assert out == [applied(2, C)]
    assert label.planes() == C


def test_chunks_of_unknown_transfer_are_ignored() -> None:
    """Chunks whose xfer_id is not the transfer in progress change nothing."""
    label = make_label()
    prepared = offer(A, 1, 10)
    stranger = offer(A, 1, 99)
    for chunk in stranger.chunks():  # nothing pending yet
        assert label.handle(chunk, 0.0) == []
    label.handle(prepared.desired, 1.0)
    for chunk in stranger.chunks():
        assert label.handle(chunk, 1.0) == []
    assert label.assembler is not None
    assert label.assembler.received == 0
    assert label.revision == 0


def test_delta_with_wrong_base_asks_for_full_frame() -> None:
    """A delta against an image the label lacks → BASE_UNKNOWN; the full re-offer completes."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    elsewhere = planes_of(1, box=(10, 60, 50, 100))  # A with another box: not what it shows
    delta = offer(B, 2, 11, base=elsewhere)
    assert delta.desired.encoding is Encoding.DELTA_XOR
    assert label.handle(delta.desired, 1.0) == [
        XferRequest(2, 11, XferReason.BASE_UNKNOWN, content_hash(A), b"")
    ]
    for chunk in delta.chunks():
        assert label.handle(chunk, 1.0) == []
    full = offer(B, 2, 12)
    assert full.desired.encoding is Encoding.FULL
    assert transfer(label, full, 2.0) == [applied(2, B)]
    assert label.planes() == B


def test_wake_asks_for_exactly_the_missing_chunks() -> None:
    """With no progress since the previous wake, wake() requests the missing chunk bitmap."""
    label = make_label()
    prepared = offer(A, 1, 10)
    count = prepared.desired.chunk_count
    have = {0, 2, count - 1}
    label.handle(prepared.desired, 0.0)
    for i in sorted(have):
        label.handle(prepared.chunk(i), 1.0)
    missing = [i for i in range(count) if i not in have]
    assert label.wake(10.0, since=5.0) == [
        XferRequest(1, 10, XferReason.MISSING_CHUNKS, NO_HASH, bitmap_from_indices(missing, count))
    ]
    assert label.stats.resume_requests == 1
    out: list[Message] = []
    for i in missing:
        out += label.handle(prepared.chunk(i), 11.0)
    assert out == [applied(1, A)]


def test_wake_after_progress_requests_nothing() -> None:
    """A chunk that arrived after `since` is progress: wake() does not ask for a resume."""
    label = make_label()
    prepared = offer(A, 1, 10)
    label.handle(prepared.desired, 0.0)
    label.handle(prepared.chunk(0), 6.0)
    assert label.wake(10.0, since=5.0) == []
    assert label.stats.resume_requests == 0
    label.handle(prepared.chunk(0), 12.0)  # a duplicate is not progress
    assert [m.reason for m in label.wake(20.0, since=10.0) if isinstance(m, XferRequest)] == [
        XferReason.MISSING_CHUNKS
    ]


def test_payload_with_bad_crc_fails_integrity() -> None:
    """A payload whose CRC does not match the offer → INTEGRITY_FAILED, nothing displayed."""
    label = make_label()
    prepared = offer(A, 1, 10)
    bad = PreparedImage(
        dataclasses.replace(prepared.desired, payload_crc=prepared.desired.payload_crc ^ 1),
        prepared.payload,
    )
    assert transfer(label, bad) == [XferRequest(1, 10, XferReason.INTEGRITY_FAILED, NO_HASH, b"")]
    assert (label.revision, label.images) == (0, {})
    assert transfer(label, offer(A, 1, 11), 1.0) == [applied(1, A)]


def test_payload_with_wrong_content_hash_fails_integrity() -> None:
    """A payload that inflates to other planes than the offer's hash → INTEGRITY_FAILED."""
    label = make_label()
    prepared = offer(A, 1, 10)
    lying = PreparedImage(
        dataclasses.replace(prepared.desired, content_hash=content_hash(C)), prepared.payload
    )
    out = transfer(label, lying)
    assert [(type(m), getattr(m, "reason", None)) for m in out] == [
        (XferRequest, XferReason.INTEGRITY_FAILED)
    ]
    assert label.revision == 0


def test_frame_of_wrong_size_is_refused_too_large() -> None:
    """An offer whose raw size is not the panel's frame size → TOO_LARGE, no transfer."""
    label = make_label()
    small = prepare_image(A[:100], revision=1, xfer_id=10, chunk_size=CHUNK)
    assert label.handle(small.desired, 0.0) == [
        XferRequest(1, 10, XferReason.TOO_LARGE, NO_HASH, b"")
    ]
    assert label.assembler is None


# ---- reboot and birth -----------------------------------------------------------------------


def test_reboot_keeps_image_and_forgets_transfer() -> None:
    """Reboot: OK, then Birth with a new session and Reported(BOOT); image kept, transfer lost."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    session = label.session
    pending = offer(C, 2, 20)
    chunks = list(pending.chunks())
    label.handle(pending.desired, 1.0)
    label.handle(chunks[0], 1.0)

    out = label.handle(Reboot(txn=7), 2.0)
    assert out[0] == CommandResult(7, CommandStatus.OK)
    assert isinstance(out[1], Birth)
    assert out[1].session == session + 1
    assert (out[1].displayed_revision, out[1].displayed_hash) == (1, content_hash(A))
    assert out[2:] == [Reported(1, content_hash(A), 0, ReportResult.BOOT)]
    assert label.pending is None
    for chunk in chunks[1:]:
        assert label.handle(chunk, 3.0) == []
    assert (label.revision, label.planes()) == (1, A)


def test_birth_carries_what_is_displayed() -> None:
    """Birth reports pages, displayed revision/hash and shown page from the label's state."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    transfer(label, offer(C, 2, 11, page=1))
    label.handle(PageSwitch(txn=1, page=1, duration_s=0), 1.0)
    birth = label.boot(2.0)[0]
    assert isinstance(birth, Birth)
    assert birth.model is ModelId.EPD290_BWR
    assert birth.pages == 2
    assert birth.displayed_revision == 2
    assert birth.displayed_hash == content_hash(C)
    assert birth.shown_page == 1


# ---- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [1, 2, 255])
def test_page_switch_without_image_is_refused(page: int) -> None:
    """Switching to a page with no image (or beyond the label's pages) is REFUSED."""
    label = make_label()
    transfer(label, offer(A, 1, 10))
    out = label.handle(PageSwitch(txn=3, page=page, duration_s=0), 1.0)
    assert [(m.txn, m.status) for m in out if isinstance(m, CommandResult)] == [
        (3, CommandStatus.REFUSED)
    ]
    assert len(out) == 1
    assert label.shown_page == 0


def test_page_switch_shows_page_then_reverts_at_a_wake() -> None:
    """A timed switch shows the page (OK, APPLIED); the first wake after it returns to page 0."""
    label = make_label()
    transfer(label, offer(C, 1, 10, page=1))
    transfer(label, offer(A, 2, 11))  # the last applied Desired is for page 0
    out = label.handle(PageSwitch(txn=4, page=1, duration_s=30), 100.0)
    assert out == [
        CommandResult(4, CommandStatus.OK),
        Reported(2, content_hash(A), 1, ReportResult.APPLIED),
    ]
    assert (label.shown_page, label.planes()) == (1, C)
    assert (label.revision, label.displayed_hash) == (2, content_hash(A))  # §7.3: unchanged
    assert label.wake(129.0, since=100.0) == []
    assert label.shown_page == 1
    assert label.wake(130.0, since=129.0) == [Reported(2, content_hash(A), 0, ReportResult.APPLIED)]
    assert (label.shown_page, label.planes()) == (0, A)


def test_untimed_page_switch_stays() -> None:
    """duration_s=0 keeps the page on screen through later wakes."""
    label = make_label()
    transfer(label, offer(C, 1, 10, page=1))
    transfer(label, offer(A, 2, 11))
    label.handle(PageSwitch(txn=4, page=1, duration_s=0), 0.0)
    assert label.wake(10_000.0, since=0.0) == []
    assert label.shown_page == 1


# ---- behaviour PROTOCOL.md §4.7 requires that the simulator lacks ---------------------------


@pytest.mark.parametrize("failure", ["too-large", "integrity-failed"])
def test_refused_or_failed_transfer_is_not_requested_again(failure: str) -> None:
    """After TOO_LARGE or INTEGRITY_FAILED the label does not later ask BASE_UNKNOWN for it."""
    label = make_label()
    if failure == "too-large":
        label.handle(prepare_image(A[:100], revision=1, xfer_id=10, chunk_size=CHUNK).desired, 0.0)
    else:
        prepared = offer(A, 1, 10)
        wrong = dataclasses.replace(prepared.desired, payload_crc=prepared.desired.payload_crc ^ 1)
        transfer(label, PreparedImage(wrong, prepared.payload))
    assert label.wake(10.0, since=5.0) == []


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


def test_firmware_transfer_resumes_at_a_wake() -> None:
    """A firmware transfer missing chunks asks for them at a wake, with revision 0."""
    label = fw_label()
    label.handle(firmware_offer(), 0.0)
    chunks = firmware_chunks(IMAGE)
    label.handle(chunks[0], 1.0)
    assert label.wake(10.0, since=5.0) == [
        XferRequest(0, 77, XferReason.MISSING_CHUNKS, NO_HASH, bitmap_from_indices([1, 2], 3))
    ]
