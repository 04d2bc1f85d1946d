"""The label's non-volatile memory: what PROTOCOL.md says must survive a reboot.

§4.6: the session counter (incremented and persisted before every CONNECT, never decreasing).
§4.7: the planes of each page slot (the bases of the next deltas), and the revision R and content
hash H of the last Desired applied. §7.1: the last 8 command results, so a command repeated with
the same txn after a reboot is answered, not run again. Plus the running firmware version (§7.7).

On disk: `state.json` and one `page-N.planes` file per stored page, each replaced atomically
(written beside, flushed, renamed), planes before the JSON that names their revision.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from frames import NO_HASH

TXN_MEMORY = 8  # §7.1: remember the last 8 commands


def content_hash(planes: bytes) -> bytes:
    """§5.2: the first 16 bytes of SHA-256 over the raw planes."""
    return hashlib.sha256(planes).digest()[:16]


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


class LabelStore:
    """Flash of one label, in a directory. Read once at boot, written on every change."""

    def __init__(self, directory: Path, firmware: tuple[int, int, int]) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.session = 0
        self.revision = 0
        self.content_hash = NO_HASH
        self.firmware = firmware
        self.txns: list[tuple[int, int, str]] = []
        self.persist_session = True  # False: the session-not-persisted defect
        self._session_on_disk = 0
        self._slots: dict[int, bytes] = {}
        self.load()

    @property
    def _json(self) -> Path:
        return self.directory / "state.json"

    def load(self) -> None:
        """What a booting label reads from its flash (RAM state is rebuilt from this)."""
        if self._json.exists():
            saved = json.loads(self._json.read_text(encoding="utf-8"))
            self.session = int(saved["session"])
            self.revision = int(saved["revision"])
            self.content_hash = bytes.fromhex(saved["content_hash"])
            self.firmware = (saved["firmware"][0], saved["firmware"][1], saved["firmware"][2])
            self.txns = [(int(t), int(s), str(d)) for t, s, d in saved["txns"]]
            self._session_on_disk = self.session
        self._slots = {}
        for path in self.directory.glob("page-*.planes"):
            self._slots[int(path.stem.split("-")[1])] = path.read_bytes()

    def save(self) -> None:
        if self.persist_session:
            self._session_on_disk = self.session
        document = {
            "session": self._session_on_disk,
            "revision": self.revision,
            "content_hash": self.content_hash.hex(),
            "firmware": list(self.firmware),
            "txns": [list(entry) for entry in self.txns],
        }
        _write_atomically(self._json, json.dumps(document, indent=1).encode())

    def slot(self, page: int) -> bytes | None:
        return self._slots.get(page)

    def slot_hash(self, page: int) -> bytes:
        """hash(p) of §4.7: the content hash of page slot p, NO_HASH if it is empty."""
        planes = self._slots.get(page)
        return NO_HASH if planes is None else content_hash(planes)

    def apply(self, page: int, planes: bytes, revision: int, new_hash: bytes) -> None:
        """§4.7: write the planes to their slot, then persist R and H."""
        _write_atomically(self.directory / f"page-{page}.planes", planes)
        self._slots[page] = planes
        self.revision = revision
        self.content_hash = new_hash
        self.save()

    def remembered(self, txn: int) -> tuple[int, str] | None:
        for known, status, detail in self.txns:
            if known == txn:
                return status, detail
        return None

    def remember(self, txn: int, status: int, detail: str) -> None:
        self.txns = [entry for entry in self.txns if entry[0] != txn]
        self.txns = [*self.txns, (txn, status, detail)][-TXN_MEMORY:]
        self.save()
