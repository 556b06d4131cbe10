"""The H-polytope type the samplers work on, and its Chebyshev centre."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

# A Chebyshev radius below this fraction of the box scale counts as "no interior".
_MIN_RELATIVE_RADIUS = 1e-9


class EmptyPolytopeError(ValueError):
    """The region has no interior, so there is nothing to sample."""


@dataclass(frozen=True, eq=False)
class Polytope:
    """The region `{x : lower <= x <= upper, A x <= b}` (a bounded H-polytope).

    Arrays are converted to float64 and validated on construction; instances are
    immutable and compare by identity.

    Attributes:
        lower: (d,) finite lower bounds of the box.
        upper: (d,) finite upper bounds of the box, `upper >= lower`.
        A: (m, d) half-space normals; m may be 0.
        b: (m,) half-space offsets.

    Raises:
        ValueError: on inconsistent shapes, non-finite values or `lower > upper`.
    """

    lower: np.ndarray
    upper: np.ndarray
    A: np.ndarray
    b: np.ndarray

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, dtype=np.float64).reshape(-1)
        upper = np.asarray(self.upper, dtype=np.float64).reshape(-1)
        d = lower.shape[0]
        A = np.asarray(self.A, dtype=np.float64)
        if A.size == 0:
            A = A.reshape(0, d)
        b = np.asarray(self.b, dtype=np.float64).reshape(-1)
        if upper.shape != (d,):
            raise ValueError(f"lower has {d} entries but upper has {upper.shape[0]}")
        if A.ndim != 2 or A.shape[1] != d or b.shape != (A.shape[0],):
            raise ValueError(f"A must be (m, {d}) and b (m,); got A {A.shape}, b {b.shape}")
        for name, arr in (("lower", lower), ("upper", upper), ("A", A), ("b", b)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be finite")
        if np.any(lower > upper):
            raise ValueError("lower must be <= upper in every coordinate")
        for name, arr in (("lower", lower), ("upper", upper), ("A", A), ("b", b)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def dim(self) -> int:
        """Number of coordinates d."""
        return int(self.lower.shape[0])

    def contains(self, X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Whether each row of `X` ((k, d) or (d,)) lies in the region, up to `tol`.

        Returns:
            A bool array of shape (k,), or a 0-d bool array when `X` is a single point.
        """
        X = np.asarray(X, dtype=np.float64)
        single = X.ndim == 1
        X2 = np.atleast_2d(X)
        ok = np.all(X2 >= self.lower - tol, axis=1) & np.all(X2 <= self.upper + tol, axis=1)
        if self.A.shape[0]:
            ok &= np.all(X2 @ self.A.T <= self.b + tol, axis=1)
        return ok[0] if single else ok

    def intersect(self, A: np.ndarray, b: np.ndarray) -> Polytope:
        """A new polytope with the rows `A x <= b` added."""
        A = np.asarray(A, dtype=np.float64).reshape(-1, self.dim)
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        return Polytope(
            self.lower, self.upper, np.vstack([self.A, A]), np.concatenate([self.b, b])
        )

    def slack(self, X: np.ndarray) -> np.ndarray:
        """`b - A x` for each row of `X` ((k, d) -> (k, m))."""
        return self.b - np.atleast_2d(X) @ self.A.T

    def strictly_contains(self, x: np.ndarray) -> bool:
        """Whether the point `x` lies in the open interior."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.shape != (self.dim,) or not np.all(np.isfinite(x)):
            return False
        in_box = bool(np.all(x > self.lower) and np.all(x < self.upper))
        return in_box and bool(np.all(self.slack(x) > 0))


def interior_point(poly: Polytope) -> np.ndarray | None:
    """The Chebyshev centre of `poly` (centre of the largest inscribed ball).

    Solved as one linear program with `scipy.optimize.linprog` (HiGHS), box rows included.

    Returns:
        The centre as a (d,) array, or None when the region is empty or has no interior.
    """
    d = poly.dim
    eye = np.eye(d)
    rows = np.vstack([poly.A, eye, -eye])
    rhs = np.concatenate([poly.b, poly.upper, -poly.lower])
    norms = np.linalg.norm(rows, axis=1)
    zero = norms == 0
    if np.any(rhs[zero] < 0):
        return None
    rows, rhs, norms = rows[~zero], rhs[~zero], norms[~zero]
    # Variables (x, r): maximise r subject to a_i x + |a_i| r <= b_i.
    cost = np.zeros(d + 1)
    cost[-1] = -1.0
    res = linprog(
        cost,
        A_ub=np.hstack([rows, norms[:, None]]),
        b_ub=rhs,
        bounds=[(None, None)] * d + [(0.0, None)],
        method="highs",
    )
    if res.status != 0:
        return None
    x, r = res.x[:d], res.x[d]
    scale = max(1.0, float(np.max(poly.upper - poly.lower)))
    if r <= _MIN_RELATIVE_RADIUS * scale or not poly.strictly_contains(x):
        return None
    return x
