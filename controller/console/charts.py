"""An item's price history as an inline SVG step chart, drawn on the server (no JS library).

Two series: the prices HQ says applied (`price_history` of the item) and the prices this store
applied on its shelves (`applied_prices`, what the Omnibus prior price is computed from). A price
holds until the next one, so each series is a step line; an open last step runs to `now`.
The page also lists the points as a table: the chart is a picture, the table is what a screen
reader reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 80, 16, 16, 36


@dataclass(frozen=True, slots=True)
class Step:
    price: Decimal
    start: datetime
    end: datetime | None  # None: still applies


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css: str
    points: str  # the SVG polyline's points
    dots: tuple[tuple[float, float], ...]  # where each price starts (a short one is still seen)


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True, slots=True)
class PriceChart:
    width: int
    height: int
    series: tuple[Series, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM


def price_chart(series: dict[tuple[str, str], list[Step]], now: datetime) -> PriceChart | None:
    """The chart of the given series ((name, css class) → steps), None if there is nothing."""
    steps = [step for found in series.values() for step in found]
    if not steps:
        return None
    t0 = min(step.start for step in steps)
    t1 = max([now, *(step.end for step in steps if step.end is not None)])
    low = min(step.price for step in steps)
    high = max(step.price for step in steps)
    pad = (high - low) * Decimal("0.1") or high * Decimal("0.1") or Decimal(1)
    low, high = max(Decimal(0), low - pad), high + pad
    span_s = max((t1 - t0).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + plot_w * (moment - t0).total_seconds() / span_s

    def y(price: Decimal) -> float:
        return TOP + plot_h * float((high - price) / (high - low))

    drawn = []
    for (name, css), found in series.items():
        points: list[str] = []
        dots: list[tuple[float, float]] = []
        ordered = sorted(found, key=lambda one: one.start)
        for index, step in enumerate(ordered):
            # A price holds until its end or the next price, whichever comes first.
            after = ordered[index + 1].start if index + 1 < len(ordered) else None
            ends = [t for t in (step.end, after) if t is not None]
            end = min(ends) if ends else now
            level = y(step.price)
            points += [f"{x(step.start):.1f},{level:.1f}", f"{x(end):.1f},{level:.1f}"]
            dots.append((round(x(step.start), 1), round(level, 1)))
        if points:
            drawn.append(Series(name, css, " ".join(points), tuple(dots)))
    y_ticks = tuple(
        Tick(y(low + (high - low) * Decimal(i) / 4), f"{low + (high - low) * Decimal(i) / 4:.2f}")
        for i in range(5)
    )
    shape = "%H:%M:%S" if span_s < 3600 else "%d.%m %H:%M" if span_s < 3 * 86400 else "%d.%m.%Y"
    x_ticks = tuple(
        Tick(x(moment), moment.strftime(shape)) for moment in (t0, t0 + (t1 - t0) / 2, t1)
    )
    return PriceChart(WIDTH, HEIGHT, tuple(drawn), y_ticks, x_ticks)
