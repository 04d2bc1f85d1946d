"""A lane's stock state, IN_STOCK / LOW / OUT, with hysteresis so labels and alerts do not flicker.

Rules (the count is the pipeline's, already debounced: it changes only between stable levels):

- any state -> OUT when the count is 0;
- IN_STOCK -> LOW when the count is at or below `low_stock`;
- LOW -> IN_STOCK only when the count is at least `low_stock + hysteresis`;
- OUT -> LOW or IN_STOCK only when the count is at least `hysteresis` (then IN_STOCK if it is also
  at least `low_stock + hysteresis`, else LOW).

So a lane whose count moves between `low_stock` and `low_stock + hysteresis - 1` (a product taken
and put back, one sold and one returned) stays in the state it had, and one product put back on an
empty lane does not clear the out-of-stock alert (hysteresis 2: a second unit must be there).

The first count of a lane (at boot) sets its state without hysteresis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StockState(StrEnum):
    IN_STOCK = "in-stock"
    LOW = "low"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class StockRules:
    low_stock: int  # LOW at or below this count
    hysteresis: int = 2  # units above a threshold before its state is left


def initial_state(count: int, rules: StockRules) -> StockState:
    if count <= 0:
        return StockState.OUT
    if count <= rules.low_stock:
        return StockState.LOW
    return StockState.IN_STOCK


def next_state(state: StockState, count: int, rules: StockRules) -> StockState:
    """The state after a count, from the state before it (the rules in the module docstring)."""
    if count <= 0:
        return StockState.OUT
    clear_low = count >= rules.low_stock + rules.hysteresis
    if state is StockState.OUT:
        if count < rules.hysteresis:
            return StockState.OUT
        return StockState.IN_STOCK if clear_low else StockState.LOW
    if state is StockState.LOW:
        return StockState.IN_STOCK if clear_low else StockState.LOW
    return StockState.LOW if count <= rules.low_stock else StockState.IN_STOCK
