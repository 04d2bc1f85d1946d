"""The convergence estimate: a smoothed rate from sampled counts, and the time left."""

from __future__ import annotations

import pytest

from controller.convergence import ConvergenceEstimate, Counts, describe_left


def test_unknown_until_a_count_moves_then_remaining_over_rate():
    """No rate, no estimate; 200 confirmed in the second after the last quiet sample, with 800
    left, is ~4 s."""
    estimate = ConvergenceEstimate()
    first = estimate.observe(0.0, Counts(total=1000, confirmed=0))
    assert first.left_s is None
    assert "time left unknown" in first.describe()
    assert estimate.observe(1.0, Counts(total=1000, confirmed=0)).left_s is None
    moved = estimate.observe(2.0, Counts(total=1000, confirmed=200))
    assert moved.rate_per_s == pytest.approx(200.0)  # from the last sample before it moved
    assert moved.left_s == pytest.approx(4.0)
    assert moved.describe() == "200 / 1,000 labels confirmed, ~4 s left"


def test_the_rate_is_smoothed_over_bursts():
    """A burst of 128 labels in one second, then quiet seconds: the rate falls gradually."""
    estimate = ConvergenceEstimate(half_life_s=5.0)
    estimate.observe(0.0, Counts(10_000, 0))
    burst = estimate.observe(1.0, Counts(10_000, 128))
    assert burst.rate_per_s == pytest.approx(128.0)
    quiet = estimate.observe(2.0, Counts(10_000, 128))
    assert quiet.rate_per_s is not None
    assert 0.8 * 128 < quiet.rate_per_s < 128  # 1 s of nothing is 13% of a 5 s half-life
    assert quiet.left_s is not None
    assert quiet.left_s > burst.left_s  # type: ignore[operator]


def test_the_rendered_count_gives_an_estimate_before_any_confirmation():
    """Rendering moves first: its rate estimates the labels left until confirmations have a
    rate; then the slower stage's estimate counts, measured from the first rendered round."""
    estimate = ConvergenceEstimate()
    estimate.observe(0.0, Counts(20_000, 0, rendered=0))
    estimate.observe(4.0, Counts(20_000, 0, rendered=0))  # render workers starting
    early = estimate.observe(5.0, Counts(20_000, 0, rendered=500))
    assert early.left_s == pytest.approx(40.0)  # 20,000 left at 500 rendered a second
    assert early.describe() == "0 / 20,000 labels confirmed (500 rendered), ~40 s left"
    later = estimate.observe(7.0, Counts(20_000, 100, rendered=1500))
    # confirmations: 100 in the 2 s since the last sample without any, 50/s: the slower stage
    assert later.left_s == pytest.approx(19_900 / 50)


def test_all_rendered_without_confirmations_goes_by_the_render_rate():
    """A small store renders at once; until labels confirm, the render rate is the estimate."""
    estimate = ConvergenceEstimate()
    estimate.observe(0.0, Counts(300, 0, rendered=0))
    rendered = estimate.observe(1.0, Counts(300, 0, rendered=300))
    assert rendered.left_s == pytest.approx(1.0)
    assert rendered.describe() == "0 / 300 labels confirmed, ~1 s left"


def test_no_count_moving_is_unknown():
    """Render workers still starting: nothing to estimate from."""
    estimate = ConvergenceEstimate()
    estimate.observe(0.0, Counts(300, 0, rendered=0))
    assert estimate.observe(1.0, Counts(300, 0, rendered=0)).left_s is None


def test_a_count_that_drops_starts_its_rate_over_and_done_is_zero():
    """New work (a reprice makes labels stale) restarts the rate; all confirmed: 0 s left."""
    estimate = ConvergenceEstimate()
    estimate.observe(0.0, Counts(100, 0))
    estimate.observe(1.0, Counts(100, 50))
    dropped = estimate.observe(2.0, Counts(100, 10))
    assert dropped.rate_per_s is None
    assert dropped.left_s is None
    again = estimate.observe(3.0, Counts(100, 40))
    assert again.rate_per_s == pytest.approx(30.0)
    done = estimate.observe(4.0, Counts(100, 100))
    assert done.done
    assert done.left_s == 0.0
    assert done.describe() == "100 / 100 labels confirmed"


def test_time_left_reads_naturally():
    """Seconds under 90 s, then minutes, then hours."""
    assert describe_left(0.2) == "~1 s left"
    assert describe_left(44.1) == "~45 s left"
    assert describe_left(600) == "~10 min left"
    assert describe_left(3 * 3600) == "~3.0 h left"
