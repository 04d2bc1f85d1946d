"""Which device events are new, duplicates or follow a gap (PROTOCOL.md §8.2), sans-IO.

A device numbers its events per session: event_id 1, 2, 3 ... and keeps counting across a
Rebirth (which answers with the same session). So, per device, the controller keeps the session
and the last event_id it handled:
- a Birth with a higher session than the one kept starts over: the next event expected is 1;
  a Birth with the same session (a Rebirth's answer) changes nothing; a lower one is a stale
  Birth (a late retained copy) and is ignored;
- an event_id <= the last one is a duplicate (QoS 1 delivers at least once): ignored;
- last + 1 is the next event: handled;
- an event_id above last + 1 follows a gap (events were lost while the controller was away):
  the event is still handled, and the caller asks the device for a Rebirth so that its state
  is known again (controller/fleet.py, rate-limited per device).

An event from a device whose session is not known yet (no Birth since the controller started)
is handled and starts the count; the Birth that follows sets the session without resetting it.

Telemetry's `seq` is not tracked here: lost telemetry (QoS 0) is normal and never asks for a
Rebirth (§8.1). The tracker lives in memory: a restarted controller learns each session again
from the retained Births replayed when it subscribes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from firmware_protocol.messages import Event


class Verdict(Enum):
    NEW = "new"  # the next event: handle it
    GAP = "gap"  # new, but events before it were lost: handle it and ask for a Rebirth
    DUPLICATE = "duplicate"  # already handled: ignore it


@dataclass(slots=True)
class _Expectation:
    session: int | None  # None: events seen before any Birth of this controller's run
    last: int  # the last event_id handled in that session (0: none yet)


class EventTracker:
    """Per device: the session and the last event_id handled."""

    def __init__(self) -> None:
        self._devices: dict[str, _Expectation] = {}

    def on_birth(self, device_id: str, session: int) -> None:
        known = self._devices.get(device_id)
        if known is None or (known.session is not None and session > known.session):
            self._devices[device_id] = _Expectation(session, 0)
        elif known.session is None:
            known.session = session  # the count started before the Birth was seen: keep it

    def on_event(self, device_id: str, event: Event) -> Verdict:
        known = self._devices.get(device_id)
        if known is None:
            self._devices[device_id] = _Expectation(None, event.event_id)
            return Verdict.NEW
        if event.event_id <= known.last:
            return Verdict.DUPLICATE
        gap = event.event_id > known.last + 1
        known.last = event.event_id
        return Verdict.GAP if gap else Verdict.NEW

    def last(self, device_id: str) -> int | None:
        """The last event_id handled for the device, if any is known."""
        known = self._devices.get(device_id)
        return known.last if known is not None else None
