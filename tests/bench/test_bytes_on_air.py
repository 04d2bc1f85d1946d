"""The bytes-on-air benchmark counts what the controller really sends, and deltas stay small."""

from __future__ import annotations

from bench import bytes_on_air
from bench.bytes_on_air import QUICK_MODELS, UPDATES
from controller.local_broker import LocalBroker
from firmware_protocol.models import model

DESIRED_FRAME = 12 + 63  # header and CRC, body
CHUNK_FRAME = 12 + 10  # header and CRC, fields before the data


async def test_quick_run_measures_every_update_of_every_model(broker: LocalBroker) -> None:
    """Each model gets every update once; a price-only change is a delta smaller than the zlib
    frame, full frames are within 1% of the zlib-9 frame, both counts of the bytes agree."""
    section = await bytes_on_air.run(broker, quick=True)

    assert section.scenario == "bytes"
    names = {model(m).name for m in QUICK_MODELS}
    assert {(r["model"], r["update"]) for r in section.rows} == {
        (name, update) for name in names for update in UPDATES
    }
    assert not [n for n in section.notes if n.startswith("WARNING")], section.notes
    for row in section.rows:
        assert row["raw_bytes"] == model_size(row["model"])
        assert row["request_bytes"] == 0  # lossless simulator: nothing asked again
        chunks = row["messages"] - 1
        framing = DESIRED_FRAME + CHUNK_FRAME * chunks
        assert row["ours_bytes"] == row["payload_bytes"] + framing, row
        if row["encoding"] == "full":  # ours: zlib level 6 (transfer.ZLIB_LEVEL); theirs: 9
            assert abs(row["payload_bytes"] - row["zlib_frame_bytes"]) <= row["raw_bytes"] // 100
            assert row["payload_bytes"] < row["raw_bytes"] // 2, row
    for row in section.rows:
        if row["update"].startswith("price only"):
            assert row["encoding"] == "delta", row
            assert row["ours_bytes"] < row["zlib_frame_bytes"], row
            assert row["payload_bytes"] < row["raw_bytes"] // 10, row
        if row["update"] == "first image":
            assert row["encoding"] == "full", row  # a blank panel has no base


def model_size(name: str) -> int:
    return next(model(m).frame_size for m in QUICK_MODELS if model(m).name == name)
