"""Reconnect delays: capped, jittered exponential backoff that starts over after a good
connection (PROTOCOL.md §1.2's reconnect rule).

Without the reset, every outage of a long-running client waited longer than the one before
(issue 12: 4 s growing to 37-45 s). A connection counts as good once it has lasted
`stable_after_s`: a broker that accepts and at once drops a client (a session taken over, a
refused subscription) keeps backing off instead of being hammered every half second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

START_S = 0.5
CAP_S = 30.0
STABLE_AFTER_S = 5.0


@dataclass(slots=True)
class Backoff:
    seed: str  # the client id: clients restarted together do not reconnect in lockstep
    start_s: float = START_S
    cap_s: float = CAP_S
    stable_after_s: float = STABLE_AFTER_S
    current_s: float = field(init=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.current_s = self.start_s
        self._rng = random.Random(self.seed)  # noqa: S311 - jitter only

    def connection_ended(self, lasted_s: float | None) -> None:
        """A connection ended after `lasted_s` seconds (None: it never came up)."""
        if lasted_s is not None and lasted_s >= self.stable_after_s:
            self.current_s = self.start_s

    def next_delay(self) -> float:
        """The delay before the next attempt; the one after it doubles, up to the cap."""
        delay = self.current_s * self._rng.uniform(0.5, 1.5)
        self.current_s = min(self.cap_s, self.current_s * 2)
        return delay

    def reset(self) -> None:
        self.current_s = self.start_s
