"""The legal price figures a label must show, computed from the catalog and the price history.

Omnibus Directive 2019/2161, Art. 6a (into 98/6/EC): an announced price reduction shows the prior
price, the lowest price applied during the 30 days before the reduction. Any percentage is
computed from that prior price (CJEU C-330/23, Aldi Süd, 2024). So:

- the window is [start - 30 days, start): the promotion's own price is never part of it;
- every price that applied for any part of the window counts, including an earlier promotion;
- gaps in the history (the item was not on sale) simply contribute nothing;
- with no history at all, the regular price is taken as the one that applied (a controller that
  records every price it applies builds the history as it runs).

Unit price, Price Indication Directive 98/6/EC Art. 2(b) and 3: goods sold by quantity show the
price per kilogram, litre or metre (per piece for goods counted), computed from the net quantity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from controller.catalog.items import NetQuantity, QuantityUnit, SoldBy
from label_renderer.content import Unit

OMNIBUS_WINDOW = timedelta(days=30)
_CENT = Decimal("0.01")

# net-quantity unit -> (the unit the price is given per, how many of it one net unit is)
_PER_UNIT: dict[QuantityUnit, tuple[Unit, Decimal]] = {
    QuantityUnit.G: (Unit.KG, Decimal("0.001")),
    QuantityUnit.KG: (Unit.KG, Decimal(1)),
    QuantityUnit.ML: (Unit.LITRE, Decimal("0.001")),
    QuantityUnit.L: (Unit.LITRE, Decimal(1)),
    QuantityUnit.CM: (Unit.METRE, Decimal("0.01")),
    QuantityUnit.M: (Unit.METRE, Decimal(1)),
    QuantityUnit.PIECE: (Unit.PIECE, Decimal(1)),
}

_SOLD_BY_UNIT = {SoldBy.KG: Unit.KG, SoldBy.L: Unit.LITRE, SoldBy.M: Unit.METRE}


@dataclass(frozen=True, slots=True)
class AppliedPrice:
    """A price that applied over [start, end); end None: still applies."""

    price: Decimal
    start: datetime
    end: datetime | None = None


def omnibus_prior_price(
    history: Iterable[AppliedPrice], promotion_start: datetime, regular_price: Decimal
) -> Decimal:
    """The lowest price applied in the 30 days before `promotion_start` (module docstring)."""
    window_start = promotion_start - OMNIBUS_WINDOW
    applied = [
        entry.price
        for entry in history
        if entry.start < promotion_start and (entry.end is None or entry.end > window_start)
    ]
    return min(applied) if applied else regular_price


def history_intervals(
    points: Iterable[tuple[Decimal, datetime, datetime | None]],
) -> list[AppliedPrice]:
    """Price points with open ends closed by the next point's start (a gap stays a gap)."""
    ordered = sorted(points, key=lambda point: point[1])
    intervals = []
    for index, (price, start, end) in enumerate(ordered):
        closed = end
        if closed is None and index + 1 < len(ordered):
            closed = ordered[index + 1][1]
        intervals.append(AppliedPrice(price, start, closed))
    return intervals


def unit_price(
    price: Decimal, sold_by: SoldBy, net_quantity: NetQuantity | None
) -> tuple[Decimal, Unit] | None:
    """The price per kg / l / m / piece, rounded to cents; None when none is required."""
    if sold_by is not SoldBy.ITEM:
        return price, _SOLD_BY_UNIT[sold_by]
    if net_quantity is None:
        return None
    per, factor = _PER_UNIT[net_quantity.unit]
    if per is Unit.PIECE and net_quantity.value == 1:
        return None  # a single item: its price is its unit price
    amount = price / (net_quantity.value * factor)
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP), per
