"""Hit-and-run: many independent chains stepping together in numpy."""

from __future__ import annotations

import numpy as np

from archsampler.polytope.polytope import Polytope

# t is drawn from the middle (1 - 2 * _EDGE) of the chord so rounding never leaves the region.
_EDGE = 1e-9
# Slacks are recomputed exactly every this many steps to stop incremental drift.
_REFRESH = 256
# Stands in for "no bound" in the ratio banks (times a slack >= 0 it never wins a min).
_BIG = 1e300
DEFAULT_BANK = 4096


class DirectionBank:
    """Pre-drawn isotropic Gaussian directions and the per-direction tables a step needs.

    Independent of the region, so a caller sampling many regions of one space (LaNAS) draws
    it once and reuses it: only the region's `A u` tables are then computed per region.
    """

    def __init__(self, rng: np.random.Generator, size: int, dim: int) -> None:
        self.U = rng.standard_normal((size, dim))
        with np.errstate(divide="ignore"):
            self.inv = 1.0 / self.U
        self.half = 0.5 * np.abs(self.inv)


class HitAndRunChains:
    """Independent hit-and-run chains, advanced in lock-step.

    Coordinates are normalised to the centred unit box `c = (x - mid) / width`, where the
    uniform distribution stays uniform. Each step gives every chain a direction drawn
    uniformly from a bank of `bank` isotropic Gaussian directions (drawn once from `rng`;
    any fixed symmetric direction law leaves the uniform distribution invariant, and the
    bank lets `A u` and the ratio tables be precomputed, so a step is O(d + m) per chain and
    never calls BLAS). The chord is cut by the box and every half-space, and the chain moves
    to a uniform point on it. Slacks `b - A x` are updated incrementally and recomputed
    exactly every few hundred steps.

    Args:
        poly: the region.
        X0: (chains, d) strictly feasible starting points.
        rng: source of randomness.
        bank: number of pre-drawn directions (when `directions` is not given).
        directions: a bank to reuse (its dimension must be the region's).
    """

    def __init__(
        self,
        poly: Polytope,
        X0: np.ndarray,
        rng: np.random.Generator,
        bank: int = DEFAULT_BANK,
        directions: DirectionBank | None = None,
    ) -> None:
        self._poly = poly
        self._rng = rng
        self._mid = (poly.lower + poly.upper) / 2
        self._width = poly.upper - poly.lower
        self._Aw = poly.A * self._width
        self._c = (np.asarray(X0, dtype=np.float64) - self._mid) / self._width
        if directions is None:
            directions = DirectionBank(rng, bank, poly.dim)
        elif directions.U.shape[1] != poly.dim:
            raise ValueError(
                f"direction bank has dimension {directions.U.shape[1]}, region {poly.dim}"
            )
        self._U = directions.U
        self._inv = directions.inv
        self._half = directions.half
        Au = self._U @ self._Aw.T
        with np.errstate(divide="ignore"):
            self._P = np.where(Au > 0, 1.0 / Au, _BIG)
            self._N = np.where(Au < 0, -1.0 / Au, _BIG)
        self._Au = Au
        self._S = poly.slack(self.points)
        self._since_refresh = 0

    @property
    def points(self) -> np.ndarray:
        """Current state, (chains, d), as a new array."""
        return self._mid + self._width * self._c

    def step(self, n_steps: int) -> None:
        """Advance every chain by `n_steps` hit-and-run moves."""
        done = 0
        while done < n_steps:  # randomness is drawn per block of moves (bounded memory)
            block = min(n_steps - done, _REFRESH)
            self._moves(block)
            done += block

    def _moves(self, n_steps: int) -> None:
        c, S, rng = self._c, self._S, self._rng
        C = c.shape[0]
        K = self._U.shape[0]
        has_rows = S.shape[1] > 0
        indices = rng.integers(K, size=(n_steps, C))
        fractions = rng.uniform(_EDGE, 1.0 - _EDGE, (n_steps, C))
        for step in range(n_steps):
            idx = indices[step]
            q = np.take(self._inv, idx, axis=0)
            q *= c
            h = np.take(self._half, idx, axis=0)
            # Box chord in centred unit coordinates: t in [-min(h + q), min(h - q)].
            t_hi = np.subtract(h, q).min(axis=1)
            t_lo = -np.add(h, q, out=h).min(axis=1)
            if has_rows:
                np.minimum(t_hi, (S * np.take(self._P, idx, axis=0)).min(axis=1), out=t_hi)
                np.maximum(t_lo, -(S * np.take(self._N, idx, axis=0)).min(axis=1), out=t_lo)
            t = t_lo + (t_hi - t_lo) * fractions[step]
            u = np.take(self._U, idx, axis=0)
            u *= t[:, None]
            c += u
            if has_rows:
                Au = np.take(self._Au, idx, axis=0)
                Au *= t[:, None]
                S -= Au
                np.maximum(S, 0.0, out=S)
            self._since_refresh += 1
            if self._since_refresh >= _REFRESH:
                self._refresh()

    def _refresh(self) -> None:
        """Recompute the slacks exactly (and clip to the box) to stop drift."""
        np.clip(self._c, -0.5, 0.5, out=self._c)
        if self._S.shape[1]:
            self._S[...] = np.maximum(self._poly.slack(self.points), 0.0)
        self._since_refresh = 0
