"""The reference label's own codec, written from PROTOCOL.md, reproduces the document's §9 vectors.

The hex comes from the fenced blocks of PROTOCOL.md; the reference label's modules are loaded from
examples/reference_label/ (they import each other by bare name, as the script runs them). Nothing
here uses the omnishelf codec: this is the document checked by a second, independent reader.
"""

from __future__ import annotations

import re
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_MD = ROOT / "firmware_protocol" / "PROTOCOL.md"
LABEL_DIR = ROOT / "examples" / "reference_label"


def _load() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType]:
    sys.path.insert(0, str(LABEL_DIR))
    try:
        import firmware  # noqa: PLC0415 - the example's modules, by the names it uses
        import frames  # noqa: PLC0415
        import label  # noqa: PLC0415
        import transfer  # noqa: PLC0415
    finally:
        sys.path.remove(str(LABEL_DIR))
    return frames, transfer, firmware, label


frames, transfer, firmware, label = _load()


def block(kind: str, name: str) -> bytes:
    """The bytes of the fenced ```kind name block of PROTOCOL.md."""
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    found = re.search(rf"```{kind} {re.escape(name)}\n(.*?)```", text, re.DOTALL)
    assert found, f"no {kind} {name} in PROTOCOL.md"
    return bytes.fromhex("".join(found.group(1).split()))


H41 = bytes.fromhex("5f21b214bc08dca835027afcf8ccf0f6")
H42 = bytes.fromhex("83bc4b391f2aa744d6c6966625443d16")


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("birth-label", frames.birth(7, 0x0122, (1, 2, 7), 512, 2950, 40, 7, 41, H41, 0)),
        ("death", frames.death(7)),
        ("reported-boot", frames.reported(41, H41, 0, frames.BOOT)),
        ("reported-applied", frames.reported(42, H42, 0, frames.APPLIED)),
        ("telemetry-label", frames.telemetry(1, 2950, -67, 215)),
        ("event-help-request", frames.event(3, 3, "Çəkmə 42")),
        ("xfer-request-missing", frames.xfer_request(42, 0x2A02, 0, H41, b"\x80")),
        ("xfer-request-base-unknown", frames.xfer_request(42, 0x2A02, 1, bytes(16), b"")),
        ("command-result-ok", frames.command_result(0x1002, frames.OK)),
        ("command-result-in-progress", frames.command_result(0x1007, 6, "0/438 chunks")),
    ],
)
def test_up_messages_encode_to_the_vectors(name: str, encoded: bytes) -> None:
    """Every up message the label sends is byte for byte the document's vector."""
    assert encoded == block("vector", name)


def test_down_messages_decode_from_the_vectors() -> None:
    """The down vectors decode to the values the document writes above them."""
    desired = frames.decode_down(block("vector", "desired-delta"), "desired")
    assert desired == frames.Desired(42, H42, 0, 0x2A02, 1, 1, H41, 8, 16, 0x8354FDEA, 16)
    chunk = frames.decode_down(block("vector", "chunk-full"), "chunk")
    assert chunk == frames.Chunk(0x2A01, 0, bytes.fromhex("6100f0400c000080"))
    assert frames.decode_down(block("vector", "led-flash"), "cmd") == frames.Command(
        0x30, 0x1002, (2, 2, 30)
    )
    assert frames.decode_down(block("vector", "page-switch"), "cmd") == frames.Command(
        0x31, 0x1003, (2, 10)
    )
    assert frames.decode_down(block("vector", "fast-wake"), "cmd") == frames.Command(
        0x32, 0x1004, (120, 1000)
    )
    for name, opcode, txn in (("ping", 0x33, 0x1005), ("reboot", 0x34, 0x1006)):
        assert frames.decode_down(block("vector", name), "cmd") == frames.Command(opcode, txn)
    response = frames.decode_down(block("vector", "response-stock"), "response")
    assert response == frames.Response(
        5, 0, ("Beden 38: mağazada 2", "Beden 40: tükendi", "Beden 42: online 5")
    )


def test_the_delta_vector_turns_image_a_into_image_b() -> None:
    """§9.1: chunk-delta inflated and XORed into image A's planes gives image B (hash checked)."""
    desired = frames.decode_down(block("vector", "desired-delta"), "desired")
    chunk = frames.decode_down(block("vector", "chunk-delta"), "chunk")
    assert isinstance(desired, frames.Desired)
    assert isinstance(chunk, frames.Chunk)
    assert zlib.crc32(chunk.data) == desired.payload_crc
    raw = transfer.inflate_exactly(chunk.data, desired.raw_size)
    assert raw is not None
    image_b = transfer.xor(raw, block("planes", "image-a"))
    assert image_b == block("planes", "image-b")
    assert transfer.content_hash(image_b) == desired.content_hash
    assert transfer.inflate_exactly(chunk.data + b"\x00", desired.raw_size) is None  # D6


def test_the_firmware_vector_verifies_with_the_pinned_test_key() -> None:
    """§9.4: the offer's manifest rebuilt from its fields is the document's, and its signature
    verifies with the RFC 8032 test key the label pins by default."""
    offer = frames.decode_down(block("vector", "firmware-offer"), "cmd")
    assert isinstance(offer, frames.FirmwareOffer)
    assert firmware.manifest(offer) == block("manifest", "firmware-1.3.0")
    key = firmware.Ed25519PublicKey.from_public_bytes(bytes.fromhex(firmware.RFC8032_TEST_KEY))
    key.verify(offer.signature, firmware.manifest(offer))


def test_the_password_is_the_documents_worked_example() -> None:
    """§1.2's credential vector: secret test-store-secret, id lbl-0001."""
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    found = re.search(r"```credential lbl-0001\n(.*?)```", text, re.DOTALL)
    assert found
    fields = dict(line.split(None, 1) for line in found.group(1).strip().splitlines())
    assert label.device_password(fields["secret"], fields["id"]) == fields["password"].strip()


@pytest.mark.parametrize(
    ("why", "payload", "channel"),
    [
        ("bad CRC", bytes.fromhex("4f5301330000000400001005ef2882fd"), "cmd"),
        ("bad magic", bytes.fromhex("4f5401330000000400001005ef2882fc"), "cmd"),
        ("trailing byte", bytes.fromhex("4f5301330000000400001005ef2882fc00"), "cmd"),
        ("truncated", bytes.fromhex("4f530133000000040000"), "cmd"),
        ("wrong channel", bytes.fromhex("4f5301330000000400001005ef2882fc"), "desired"),
    ],
)
def test_bad_frames_are_refused(why: str, payload: bytes, channel: str) -> None:
    """§3.5 and §2.4: each bad frame raises the label's FrameError (it is dropped and logged)."""
    with pytest.raises(frames.FrameError):
        frames.decode_down(payload, channel)
