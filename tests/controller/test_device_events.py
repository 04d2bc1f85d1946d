"""The event tracker's rules (PROTOCOL.md §8.2): new, duplicate, gap; sessions set by Births."""

from __future__ import annotations

from controller.device_events import EventTracker, Verdict
from firmware_protocol.messages import Event, EventKind

DEVICE = "lbl-1"


def verdicts(tracker: EventTracker, *ids: int) -> list[Verdict]:
    return [tracker.on_event(DEVICE, Event(i, EventKind.BUTTON_PRESS, "")) for i in ids]


def test_next_duplicate_and_gap():
    """1, 2 are new; 2 again and 1 are duplicates; 5 follows a gap; 6 is new again."""
    tracker = EventTracker()
    tracker.on_birth(DEVICE, 7)
    assert verdicts(tracker, 1, 2, 2, 1, 5, 6) == [
        Verdict.NEW,
        Verdict.NEW,
        Verdict.DUPLICATE,
        Verdict.DUPLICATE,
        Verdict.GAP,
        Verdict.NEW,
    ]
    assert tracker.last(DEVICE) == 6


def test_a_higher_session_starts_over_the_same_one_does_not():
    """A Rebirth's Birth (same session) keeps the count; a new session expects 1; an older
    session's late Birth changes nothing."""
    tracker = EventTracker()
    tracker.on_birth(DEVICE, 3)
    assert verdicts(tracker, 1, 2) == [Verdict.NEW, Verdict.NEW]
    tracker.on_birth(DEVICE, 3)
    assert verdicts(tracker, 2, 3) == [Verdict.DUPLICATE, Verdict.NEW]
    tracker.on_birth(DEVICE, 4)
    assert verdicts(tracker, 1) == [Verdict.NEW]
    tracker.on_birth(DEVICE, 3)
    assert verdicts(tracker, 1, 2) == [Verdict.DUPLICATE, Verdict.NEW]


def test_events_before_any_birth_start_the_count():
    """A device heard before its Birth: its first event is taken as is, and the Birth that
    follows sets the session without starting over."""
    tracker = EventTracker()
    assert verdicts(tracker, 12) == [Verdict.NEW]
    tracker.on_birth(DEVICE, 5)
    assert verdicts(tracker, 12, 14) == [Verdict.DUPLICATE, Verdict.GAP]
    tracker.on_birth(DEVICE, 6)
    assert verdicts(tracker, 1) == [Verdict.NEW]


def test_devices_are_counted_apart():
    """One device's events do not move another's count."""
    tracker = EventTracker()
    for device_id in ("a", "b"):
        tracker.on_birth(device_id, 1)
    tracker.on_event("a", Event(1, EventKind.HELP_REQUEST, ""))
    assert tracker.on_event("b", Event(2, EventKind.HELP_REQUEST, "")) is Verdict.GAP
