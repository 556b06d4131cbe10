"""Numbers in Katib's strings (feasible spaces, settings): parsed with precise errors."""

from __future__ import annotations

import math
from typing import Any

from archsampler.errors import InvalidArgumentError


def number(text: str, where: str) -> float:
    """`text` as a finite float; INVALID_ARGUMENT naming `where` otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgumentError(f"{where} {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{where} must be finite, got {text[:40]!r}")
    return value


def integer(text: str, where: str) -> int:
    """`text` as an int; INVALID_ARGUMENT naming `where` otherwise."""
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"{where} {text[:40]!r} is not an integer") from None


def int_range(space: Any, where: str) -> tuple[int, int, int]:
    """`(min, max, step)` of an int feasible space (step 1 when unset), checked."""
    low = integer(space.min, f"{where}.feasible_space.min")
    high = integer(space.max, f"{where}.feasible_space.max")
    step = integer(space.step, f"{where}.feasible_space.step") if space.step else 1
    if step < 1 or high < low:
        raise InvalidArgumentError(
            f"{where}: needs min <= max and step >= 1, got min={low} max={high} step={step}"
        )
    return low, high, step
