"""Numbers in Katib's strings (feasible spaces, settings): parsed with precise errors."""

from __future__ import annotations

import math

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
