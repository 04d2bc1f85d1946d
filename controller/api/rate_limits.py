"""Token buckets per client address and per API token, in memory and bounded.

A bucket holds up to `burst` tokens and refills at `per_s`; a request takes one token or is
refused with the seconds until one is back (the 429's `Retry-After`). Buckets live in an LRU of
at most `max_keys` keys: a flood from many addresses evicts the least recently seen buckets
rather than growing memory (an evicted key starts again with a full bucket, which only gives back
what a fresh client gets anyway).

Addresses are the TCP peer's (`scope["client"]`). `X-Forwarded-For` is not trusted: a client
could write any address there. Behind a reverse proxy every client shares the proxy's address,
so the per-address limits then act as limits for the whole store; the per-token limits still
hold per caller.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float  # tokens added per second
    burst: int  # at most this many at once


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """What the HTTP edge allows; `create_app(limits=...)` takes another set (tests do)."""

    body_bytes: int = 1 << 20  # every request body, the API's included
    batch_body_bytes: int = 16 << 20  # POST /api/v1/items/batch: up to 50,000 changes
    login_per_address: Rate = Rate(per_s=5 / 60, burst=10)  # then 5 tries a minute
    scans_per_address: Rate = Rate(per_s=2, burst=30)
    scans_per_store: Rate = Rate(per_s=50, burst=200)  # bounds the scans table's growth
    api_per_address: Rate = Rate(per_s=200, burst=2000)
    api_per_token: Rate = Rate(per_s=100, burst=1000)
    auth_failures_per_address: Rate = Rate(per_s=10 / 60, burst=20)  # wrong tokens, logins
    denial_audits: Rate = Rate(per_s=1, burst=60)  # audit rows for failures, store-wide
    max_keys: int = MAX_KEYS


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class Buckets:
    """One token bucket per key (an address, a token name), at most `max_keys` of them."""

    rate: Rate
    max_keys: int = MAX_KEYS
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def _refilled(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.rate.burst), now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(
                float(self.rate.burst), bucket.tokens + (now - bucket.at) * self.rate.per_s
            )
            bucket.at = now
        return bucket

    def take(self, key: str) -> int:
        """0 if `key` may go on (one token taken), else the whole seconds to wait."""
        bucket = self._refilled(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return self._wait_s(bucket)

    def wait_s(self, key: str) -> int:
        """The seconds until `key` has a token again (0: it has one), taking none."""
        bucket = self._refilled(key)
        return 0 if bucket.tokens >= 1.0 else self._wait_s(bucket)

    def _wait_s(self, bucket: _Bucket) -> int:
        if self.rate.per_s <= 0:
            return 3600
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate.per_s))

    def __len__(self) -> int:
        return len(self._buckets)
