"""Per-parameter value handling for user spaces: checks, parsing, features and tokens."""

from __future__ import annotations

import bisect
import math
import numbers
import re
from typing import Any

import numpy as np

from archsampler.errors import InvalidArchitectureError
from archsampler.spaces.base import ParamValue

MAX_INDEXED_INTS = 64
"""Ints with at most this many values get one token per value; others are binned."""
N_BINS = 32
_INT = re.compile(r"^[+-]?\d+$")


class ValueCodec:
    """Everything the space does with one parameter's values.

    Args:
        param: an `IntParam`, `FloatParam` or `CategoricalParam` from `user_spec`.
    """

    def __init__(self, param: Any) -> None:
        self.param = param
        self.kind = param.type
        self.width = len(param.choices) if self.kind == "categorical" else 1
        self.n_values = (
            param.n_values
            if self.kind == "int"
            else len(param.choices)
            if self.kind == "categorical"
            else 0
        )
        self._binned = self.kind == "float" or (
            self.kind == "int" and self.n_values > MAX_INDEXED_INTS
        )
        self.n_tokens = N_BINS if self._binned else self.n_values
        self._first: list[int] = []
        if self.kind == "int" and self._binned:
            idx = range(self.n_values)
            self._first = [bisect.bisect_left(idx, b, key=self._int_bin) for b in range(N_BINS)]
            self._first.append(self.n_values)

    # -- checks and wire forms ----------------------------------------------------------
    def check(self, v: Any) -> None:
        """Raise `InvalidArchitectureError` unless `v` is a valid value of this param."""
        p = self.param
        if self.kind == "categorical":
            if type(v) is not str or v not in p.choices:
                raise InvalidArchitectureError(
                    f"{p.name}: {v!r} is not one of the choices {_short(p.choices)}"
                )
        elif self.kind == "int":
            if type(v) is not int:
                raise InvalidArchitectureError(f"{p.name}: {v!r} is not an int")
            if not p.low <= v <= p.high or (v - p.low) % p.step:
                step = f" in steps of {p.step}" if p.step != 1 else ""
                raise InvalidArchitectureError(f"{p.name}: {v} is outside {p.low}..{p.high}{step}")
        else:
            if type(v) is not float:
                raise InvalidArchitectureError(f"{p.name}: {v!r} is not a float")
            if not math.isfinite(v) or not p.low <= v <= p.high:
                raise InvalidArchitectureError(f"{p.name}: {v!r} is outside [{p.low}, {p.high}]")

    def parse(self, text: str) -> ParamValue:
        """The value written as `text` (types from the spec); checked later by `check`."""
        name = self.param.name
        if self.kind == "categorical":
            if text not in self.param.choices:
                raise InvalidArchitectureError(
                    f"{name}: {text[:64]!r} is not one of the choices {_short(self.param.choices)}"
                )
            return text
        if self.kind == "int":
            if not _INT.fullmatch(text):
                raise InvalidArchitectureError(f"{name}: {text[:64]!r} is not an integer")
            return int(text)
        try:
            return float(text)
        except ValueError:
            raise InvalidArchitectureError(f"{name}: {text[:64]!r} is not a number") from None

    def coerce(self, v: Any) -> ParamValue:
        """A structured wire value in this param's type (integral floats become ints)."""
        name = self.param.name
        if self.kind == "categorical":
            if not isinstance(v, str):
                raise InvalidArchitectureError(f"{name}: expected a string choice, got {v!r}")
            return v
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise InvalidArchitectureError(f"{name}: expected a number, got {v!r}")
        if self.kind == "float":
            return float(v)
        if isinstance(v, numbers.Integral):
            return int(v)
        if math.isfinite(v) and float(v).is_integer():
            return int(v)
        raise InvalidArchitectureError(f"{name}: {v!r} is not an integer")

    def all_values(self) -> list[ParamValue]:
        """Every value of a discrete param, in order."""
        p = self.param
        if self.kind == "categorical":
            return list(p.choices)
        return list(range(p.low, p.high + 1, p.step))

    # -- features -------------------------------------------------------------------------
    def features(self, v: ParamValue | None) -> np.ndarray:
        """This param's feature block; inactive is the midpoint 0.5 or an all-zero one-hot."""
        x = np.zeros(self.width)
        if self.kind == "categorical":
            if v is not None:
                x[self.param.choices.index(v)] = 1.0
        else:
            x[0] = 0.5 if v is None else self.param.to_unit(v)
        return x

    def write_features(self, out: np.ndarray, offset: int, v: ParamValue | None) -> None:
        """`features(v)` written into `out[offset:offset + width]` (out starts zeroed)."""
        if self.kind == "categorical":
            if v is not None:
                out[offset + self.param.choices.index(v)] = 1.0
        else:
            out[offset] = 0.5 if v is None else self.param.to_unit(v)

    def from_features(self, x: np.ndarray) -> ParamValue:
        """The nearest value to a feature block (argmax for one-hot, round and clip else)."""
        if self.kind == "categorical":
            return self.param.choices[int(np.argmax(x))]
        return self.param.from_unit(float(x[0]))

    # -- tokens ---------------------------------------------------------------------------
    def _unit_bin(self, u: float) -> int:
        return min(max(int(u * N_BINS), 0), N_BINS - 1)

    def _int_bin(self, index: int) -> int:
        return self._unit_bin(self.param.to_unit(self.param.low + index * self.param.step))

    def token(self, v: ParamValue) -> int:
        """Token index (0-based, before the space's +1 shift) of a valid value."""
        p = self.param
        if self.kind == "categorical":
            return p.choices.index(v)
        if self.kind == "float":
            return self._unit_bin(p.to_unit(v))
        index = (v - p.low) // p.step
        return self._int_bin(index) if self._binned else index

    def value_of_token(self, k: int) -> ParamValue | None:
        """The value token index `k` stands for, or None if it stands for none."""
        p = self.param
        if not 0 <= k < self.n_tokens:
            return None
        if self.kind == "categorical":
            return p.choices[k]
        if self.kind == "float":
            return p.from_unit((k + 0.5) / N_BINS)
        if not self._binned:
            return p.low + k * p.step
        lo, hi = self._first[k], self._first[k + 1] - 1
        if lo > hi:
            return None
        centre = (p.from_unit((k + 0.5) / N_BINS) - p.low) // p.step
        return p.low + min(max(centre, lo), hi) * p.step

    def token_mask(self) -> np.ndarray:
        """Which of this param's `n_tokens` token indices stand for a value."""
        if self.kind == "int" and self._binned:
            return np.diff(np.array(self._first)) > 0
        return np.ones(self.n_tokens, dtype=bool)


def _short(choices: list[str]) -> str:
    shown = list(choices[:10])
    return f"{shown}" if len(choices) <= 10 else f"{shown[:-1]} ... ({len(choices)} in all)"
