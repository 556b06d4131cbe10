"""Coordinate hit-and-run ("Gibbs"): many independent chains stepping together in numpy."""

from __future__ import annotations

import numpy as np

from archsampler.polytope.polytope import Polytope

# t is drawn from the middle (1 - 2 * _EDGE) of the chord so rounding never leaves the region.
_EDGE = 1e-9
# Slacks are recomputed exactly every this many sweeps to stop incremental drift.
_REFRESH_SWEEPS = 16


class GibbsChains:
    """Independent coordinate hit-and-run chains, advanced in lock-step.

    Each step resamples one coordinate of every chain uniformly on its feasible interval.
    Coordinates are visited in sweeps, each sweep a fresh random permutation shared by all
    chains (a random-scan order that keeps the uniform distribution invariant). The slacks
    `b - A x` are carried along: moving coordinate j by t is the rank-1 update
    `s -= t * A[:, j]`, O(m) per chain; they are recomputed exactly every few sweeps.
    State is stored coordinate-major, (d, chains), so one coordinate of all chains is contiguous.

    Args:
        poly: the region.
        X0: (chains, d) strictly feasible starting points.
        rng: source of randomness.
    """

    def __init__(self, poly: Polytope, X0: np.ndarray, rng: np.random.Generator) -> None:
        self._poly = poly
        self._rng = rng
        self._XT = np.array(np.asarray(X0, dtype=np.float64).T, order="C")
        self._ST = np.ascontiguousarray(poly.slack(self._XT.T).T)
        self._order = np.zeros(0, dtype=np.intp)
        self._sweeps = -1
        A = poly.A
        self._cols = []
        for j in range(poly.dim):
            a = A[:, j]
            pos = np.flatnonzero(a > 0)
            neg = np.flatnonzero(a < 0)
            nz = np.flatnonzero(a != 0)
            if nz.size == a.size:
                nz = slice(None)  # a plain slice updates in place, no gather/scatter
            self._cols.append(
                (
                    pos,
                    (1.0 / a[pos])[:, None],
                    neg,
                    (1.0 / a[neg])[:, None],
                    nz,
                    a[nz][:, None],
                    a.size > 0 and np.any(a != 0),
                )
            )

    @property
    def points(self) -> np.ndarray:
        """Current state, (chains, d); a strided view, copy it to keep it."""
        return self._XT.T

    def step(self, n_steps: int) -> None:
        """Advance every chain by `n_steps` single-coordinate moves."""
        lower, upper = self._poly.lower, self._poly.upper
        XT, ST, rng, cols = self._XT, self._ST, self._rng, self._cols
        C = XT.shape[1]
        for _ in range(n_steps):
            if self._order.size == 0:
                self._sweeps += 1
                if self._sweeps % _REFRESH_SWEEPS == 0:
                    self._refresh()
                self._order = rng.permutation(self._poly.dim)
            j = self._order[0]
            self._order = self._order[1:]
            pos, inv_pos, neg, inv_neg, nz, a_nz, moves_rows = cols[j]
            x = XT[j]
            t_hi = upper[j] - x
            t_lo = lower[j] - x
            if pos.size:
                np.minimum(t_hi, (ST[pos] * inv_pos).min(axis=0), out=t_hi)
            if neg.size:
                np.maximum(t_lo, (ST[neg] * inv_neg).max(axis=0), out=t_lo)
            t = t_lo + (t_hi - t_lo) * rng.uniform(_EDGE, 1.0 - _EDGE, C)
            x += t
            if moves_rows:
                ST[nz] -= a_nz * t

    def _refresh(self) -> None:
        """Recompute the slacks exactly (and clip to the box) to stop drift."""
        np.clip(self._XT, self._poly.lower[:, None], self._poly.upper[:, None], out=self._XT)
        if self._ST.shape[0]:
            self._ST[...] = np.maximum(self._poly.b[:, None] - self._poly.A @ self._XT, 0.0)
