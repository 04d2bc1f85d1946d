"""The token buckets behind the edge's 429s: refill, Retry-After and bounded memory."""

from __future__ import annotations

from controller.api.rate_limits import Buckets, Rate


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    """Burst first, then one per 1/per_s seconds; a refused take says the whole seconds left."""
    clock = Clock()
    buckets = Buckets(Rate(per_s=0.5, burst=2), clock=clock)
    assert [buckets.take("a"), buckets.take("a")] == [0, 0]
    assert buckets.take("a") == 2
    clock.now = 1.0
    assert buckets.wait_s("a") == 1
    clock.now = 2.0
    assert buckets.take("a") == 0
    assert buckets.take("b") == 0  # another key has its own bucket


def test_buckets_stay_bounded_under_a_flood_of_keys() -> None:
    """20,000 addresses keep at most max_keys buckets: the least recently seen go first."""
    buckets = Buckets(Rate(per_s=1, burst=1), max_keys=1000, clock=Clock())
    buckets.take("kept")
    for n in range(20_000):
        buckets.take(f"10.0.{n // 256}.{n % 256}")
        if n % 500 == 0:
            buckets.wait_s("kept")  # seen again: not the least recent
    assert len(buckets) == 1000
    assert buckets.take("kept") > 0  # its bucket was kept, still empty
