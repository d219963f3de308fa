"""The one test for "a number in its allowed range", shared by generator parameters and definition files.

Both read values that people type (a DAG run's parameters, a TOML file), where a bool is not a
number, NaN and infinity are never meant, and the message must say the allowed range.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

#: What counts as a number: a bool is an int to Python but never a number to a person.
NUMBER_TYPES = (int, float, Decimal)


def is_finite_number(value: Any, types: tuple[type, ...] = NUMBER_TYPES) -> bool:
    """True for a finite number of one of `types`, never for a bool."""
    return isinstance(value, types) and not isinstance(value, bool) and math.isfinite(value)


def number_in_range(
    value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> bool:
    """True for a finite number between `low` and `high` (an open end excludes the bound itself)."""
    if not is_finite_number(value):
        return False
    number = float(value)
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    return above and below


def whole_number_in_range(value: Any, low: int, high: int) -> bool:
    """True for an int (not a bool) in ``[low, high]``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def interval(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> str:
    """The range as people read it: ``[0, 1)``."""
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
