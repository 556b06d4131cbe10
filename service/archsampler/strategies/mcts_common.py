"""Helpers shared by the tree-search strategies `alphax` and `hierarchical`: bounded option
checks, reward targets (rank quantiles or min-max values) and a ridge predictor."""

from __future__ import annotations

import math
from typing import Any
from typing import Sequence

import numpy as np

VALUE_LIMIT = 1e300
"""Values beyond ±1e300 are clipped there (sums of many stay finite)."""
TARGETS = ("rank", "value")
PREDICTOR_MODES = ("auto", "off")


def check_options(
    name: str,
    options: dict[str, Any],
    defaults: dict[str, Any],
    ints: dict[str, tuple[int, int]],
    floats: dict[str, tuple[float, float]],
    choices: dict[str, tuple[str, ...]],
) -> dict[str, Any]:
    """`defaults` updated by `options`, every value inside its bound (ValueError naming the
    option and the bound otherwise; unknown options list the valid ones)."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(
            f"strategy {name!r} got unknown options {unknown}; valid options are "
            f"{sorted(defaults)}"
        )
    o = {**defaults, **options}
    for key, (low, high) in ints.items():
        v = o[key]
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ValueError(
                f"{name} option {key!r} must be an integer in [{low}, {high}], got {v!r:.40}"
            )
    for key, (low, high) in floats.items():
        v = o[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok or not math.isfinite(v) or not low <= v <= high:
            raise ValueError(
                f"{name} option {key!r} must be a number in [{low:g}, {high:g}], got {v!r:.40}"
            )
    for key, allowed in choices.items():
        if o[key] not in allowed or type(o[key]) not in {type(a) for a in allowed}:
            raise ValueError(
                f"{name} option {key!r} must be one of {list(allowed)}, got {o[key]!r:.40}"
            )
    return o


def average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks of `v`, ties sharing their average rank (scipy's `rankdata`, without
    importing scipy.stats: seconds of import on a busy host)."""
    order = np.argsort(v, kind="stable")
    _, first, counts = np.unique(v[order], return_index=True, return_counts=True)
    ranks = np.empty(len(v))
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def targets(values: np.ndarray, ok: np.ndarray, kind: str) -> np.ndarray:
    """Rewards in [0, 1] of observed values (failed ones, `ok` False, get 0).

    "rank": the value's quantile among the successful values (ties share one);
    "value": min-max scaled (all 1 when every value is equal)."""
    out = np.zeros(len(values))
    good = values[ok]
    if not len(good):
        return out
    if kind == "rank":
        out[ok] = average_ranks(good) / len(good)
    else:
        low, high = float(good.min()), float(good.max())
        span = high / 2.0 - low / 2.0
        out[ok] = 1.0 if span <= 0 else (good / 2.0 - low / 2.0) / span
    return out


def to_target(predicted: np.ndarray, values: np.ndarray, kind: str) -> np.ndarray:
    """Predicted values (value units) mapped to the reward scale of `targets`."""
    good = np.sort(values)
    if not len(good):
        return np.full(len(predicted), 0.5)
    if kind == "rank":
        return np.searchsorted(good, predicted, side="right") / len(good)
    low, high = float(good[0]), float(good[-1])
    span = high / 2.0 - low / 2.0
    if span <= 0:
        return np.ones(len(predicted))
    return np.clip((predicted / 2.0 - low / 2.0) / span, -1.0, 2.0)


def from_target(predicted: np.ndarray, values: np.ndarray, kind: str) -> np.ndarray:
    """The inverse of `to_target`: reward-scale predictions back in value units."""
    if not len(values):
        return np.asarray(predicted, dtype=float)
    if kind == "rank":
        return np.quantile(values, np.clip(predicted, 0.0, 1.0))
    low, high = float(values.min()), float(values.max())
    return low + np.asarray(predicted) * (high - low)


class Ridge:
    """Ridge regression with an intercept; the dual form when rows < features."""

    def __init__(self, penalty: float) -> None:
        self.penalty = penalty
        self.w: np.ndarray | None = None
        self.mean_x: np.ndarray | None = None
        self.mean_y = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> Ridge:
        self.mean_x = X.mean(axis=0)
        self.mean_y = float(y.mean())
        Xc = X - self.mean_x
        yc = y - self.mean_y
        n, d = Xc.shape
        if n < d:
            alpha = np.linalg.solve(Xc @ Xc.T + self.penalty * np.eye(n), yc)
            self.w = Xc.T @ alpha
        else:
            self.w = np.linalg.solve(Xc.T @ Xc + self.penalty * np.eye(d), Xc.T @ yc)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        assert self.w is not None and self.mean_x is not None
        return (X - self.mean_x) @ self.w + self.mean_y


MAX_PAIRS = 512
"""Most pairwise token features (`PairFeatures`); spaces with more use `encode` alone."""


class PairFeatures:
    """One-hot features of token pairs: for positions i < j with more than one allowed
    token, one column per allowed (token_i, token_j). None-like (`width` 0) when that
    would exceed `MAX_PAIRS` columns. Interactions between decisions, which a linear model
    on `encode` misses (on NAS-Bench-201: rank correlation 0.94 vs 0.84 at 1,000 cells)."""

    def __init__(self, masks: np.ndarray) -> None:
        free = [i for i in range(len(masks)) if masks[i].sum() > 1]
        self.offsets: dict[tuple[int, int], int] = {}
        self.lookup: list[np.ndarray] = [np.flatnonzero(row) for row in masks]
        width = 0
        for a, i in enumerate(free):
            for j in free[a + 1 :]:
                self.offsets[(i, j)] = width
                width += len(self.lookup[i]) * len(self.lookup[j])
        self.width = width if width <= MAX_PAIRS else 0
        self._pos = [{int(t): k for k, t in enumerate(row)} for row in self.lookup]

    def row(self, tokens: Sequence[int]) -> np.ndarray:
        """The pair features of one token sequence."""
        out = np.zeros(self.width)
        if not self.width:
            return out
        for (i, j), base in self.offsets.items():
            ki = self._pos[i].get(int(tokens[i]))
            kj = self._pos[j].get(int(tokens[j]))
            if ki is not None and kj is not None:
                out[base + ki * len(self.lookup[j]) + kj] = 1.0
        return out


class GramRidge:
    """Ridge regression with an intercept from running sums (XᵀX, Σx): adding a row costs
    O(d²) and a fit O(d³ + n·d) whatever the targets, which may change between fits."""

    def __init__(self, dim: int) -> None:
        self.G = np.zeros((dim, dim))
        self.s = np.zeros(dim)
        self.n = 0

    def add(self, X: np.ndarray) -> None:
        self.G += X.T @ X
        self.s += X.sum(axis=0)
        self.n += len(X)

    def fit(self, X: np.ndarray, y: np.ndarray, penalty: float) -> Ridge:
        """The ridge fit on rows `X` (exactly the rows added) with targets `y`."""
        model = Ridge(penalty)
        mx = self.s / self.n
        my = float(y.mean())
        G = self.G - self.n * np.outer(mx, mx)
        b = X.T @ y - self.n * mx * my
        model.w = np.linalg.solve(G + penalty * np.eye(len(mx)), b)
        model.mean_x, model.mean_y = mx, my
        return model
