"""Pareto dominance, non-dominated sorting, crowding distance and hypervolume.

Every function takes objective vectors in the maximising sign (the service negates
objectives that are minimised), as an (n, m) array. `feasible`, when given, is a boolean
mask: Deb's constrained domination, where any feasible point dominates any infeasible one,
and an infeasible point is never on the Pareto front.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_HV_POINTS = 10_000
"""Most points `hypervolume` takes for more than two objectives (slicing is O(n^(m-1)))."""


def _as_matrix(values: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    V = np.asarray(values, dtype=float)
    if V.ndim != 2:
        raise ValueError(f"objective values must be an (n, m) array, got shape {V.shape}")
    return V


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `a` Pareto-dominates `b` (no worse everywhere, better somewhere; maximising)."""
    return bool(np.all(a >= b) and np.any(a > b))


def domination_matrix(values: np.ndarray) -> np.ndarray:
    """D[i, j] is True when point i dominates point j (O(n^2 m) memory and time)."""
    V = _as_matrix(values)
    ge = np.all(V[:, None, :] >= V[None, :, :], axis=2)
    gt = np.any(V[:, None, :] > V[None, :, :], axis=2)
    return ge & gt


def _constrained(values: np.ndarray, feasible: np.ndarray | None) -> np.ndarray:
    D = domination_matrix(values)
    if feasible is not None:
        f = np.asarray(feasible, dtype=bool)
        D = np.where(f[:, None] & ~f[None, :], True, D)
        D &= ~(~f[:, None] & f[None, :])
    return D


def pareto_mask(values: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """True for the non-dominated feasible points (duplicates of a front point are all kept)."""
    V = _as_matrix(values)
    if len(V) == 0:
        return np.zeros(0, dtype=bool)
    if V.shape[1] == 2 and feasible is None:
        return _pareto_mask_2d(V)
    mask = ~_constrained(V, feasible).any(axis=0)
    if feasible is not None:
        mask &= np.asarray(feasible, dtype=bool)
    return mask


def _pareto_mask_2d(V: np.ndarray) -> np.ndarray:
    """O(n log n) front of two objectives: sweep by the first, descending."""
    order = np.lexsort((-V[:, 1], -V[:, 0]))
    mask = np.zeros(len(V), dtype=bool)
    best1 = -np.inf
    i = 0
    while i < len(order):
        # A block of equal first objective: only its largest second value may survive.
        j = i
        x0 = V[order[i], 0]
        while j < len(order) and V[order[j], 0] == x0:
            j += 1
        top = V[order[i], 1]
        if top > best1:
            for k in range(i, j):
                if V[order[k], 1] == top:
                    mask[order[k]] = True
            best1 = top
        i = j
    return mask


def nondominated_ranks(values: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """Front index of every point (0 = non-dominated), by Deb's fast non-dominated sort."""
    V = _as_matrix(values)
    n = len(V)
    D = _constrained(V, feasible)
    count = D.sum(axis=0)  # how many points dominate each point
    ranks = np.full(n, -1, dtype=np.int64)
    front = np.flatnonzero(count == 0)
    r = 0
    while front.size:
        ranks[front] = r
        count = count - D[front].sum(axis=0)
        count[ranks >= 0] = -1
        front = np.flatnonzero(count == 0)
        r += 1
    return ranks


def domination_counts(
    values: np.ndarray, feasible: np.ndarray | None = None, chunk: int = 1024
) -> np.ndarray:
    """How many points dominate each point (0 on the front; constrained domination).

    Computed `chunk` rows at a time: memory O(chunk * n * m), time O(n^2 m).
    """
    V = _as_matrix(values)
    f = np.ones(len(V), dtype=bool) if feasible is None else np.asarray(feasible, dtype=bool)
    out = np.zeros(len(V), dtype=np.int64)
    for s in range(0, len(V), chunk):
        A, fa = V[s : s + chunk], f[s : s + chunk]
        D = np.all(A[:, None, :] >= V[None, :, :], axis=2)
        D &= np.any(A[:, None, :] > V[None, :, :], axis=2)
        D = np.where(fa[:, None] & ~f[None, :], True, D) & ~(~fa[:, None] & f[None, :])
        out += D.sum(axis=0)
    return out


def dominated_by(
    point: np.ndarray, feasible: bool, values: np.ndarray, values_feasible: np.ndarray
) -> int:
    """How many of `values` dominate `point` (constrained domination)."""
    V = _as_matrix(values)
    if len(V) == 0:
        return 0
    f = np.asarray(values_feasible, dtype=bool)
    dom = np.all(V >= point, axis=1) & np.any(V > point, axis=1)
    if feasible:
        dom &= f
    else:
        dom |= f
    return int(dom.sum())


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within one front: boundary points get infinity."""
    V = _as_matrix(values)
    n, m = V.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for j in range(m):
        order = np.argsort(V[:, j], kind="stable")
        span = V[order[-1], j] - V[order[0], j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (V[order[2:], j] - V[order[:-2], j]) / span
    return dist


def hypervolume(values: np.ndarray, reference: Sequence[float]) -> float:
    """Volume dominated by `values` and bounded below by `reference` (maximising).

    Points not strictly better than the reference in every objective add nothing. Exact:
    a sweep for two objectives, recursive slicing for more (at most `MAX_HV_POINTS`).
    """
    V = _as_matrix(values)
    ref = np.asarray(reference, dtype=float)
    if V.shape[1] != ref.size:
        raise ValueError(f"reference has {ref.size} objectives, points have {V.shape[1]}")
    V = V[np.all(V > ref, axis=1)]
    if len(V) == 0:
        return 0.0
    if V.shape[1] == 2:
        return _hv(V, ref)
    V = V[pareto_mask(V)]
    if V.shape[1] > 2 and len(V) > MAX_HV_POINTS:
        raise ValueError(f"hypervolume of more than {MAX_HV_POINTS} front points in 3+ dims")
    return _hv(np.unique(V, axis=0), ref)


def _hv(V: np.ndarray, ref: np.ndarray) -> float:
    m = V.shape[1]
    if m == 1:
        return float(V[:, 0].max() - ref[0])
    if m == 2:
        # First objective descending: each new high of the second adds a rectangle.
        order = np.argsort(-V[:, 0], kind="stable")
        top = np.maximum.accumulate(np.maximum(V[order, 1], ref[1]))
        rise = np.diff(top, prepend=ref[1])
        return float(np.sum((V[order, 0] - ref[0]) * rise))
    # Slice along the last objective: between consecutive levels, the (m-1)-dim volume of
    # the points at or above the upper level.
    levels = np.unique(V[:, -1])[::-1]
    total = 0.0
    for k, level in enumerate(levels):
        lower = levels[k + 1] if k + 1 < len(levels) else ref[-1]
        above = V[V[:, -1] >= level, :-1]
        keep = pareto_mask(above)
        total += _hv(above[keep], ref[:-1]) * (level - lower)
    return float(total)


def hypervolume_contributions(values: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """Exclusive hypervolume of each point (0 for dominated and duplicated points)."""
    V = _as_matrix(values)
    total = hypervolume(V, reference)
    out = np.zeros(len(V))
    for i in np.flatnonzero(pareto_mask(V)):
        out[i] = total - hypervolume(np.delete(V, i, axis=0), reference)
    return out


def front_distances(values: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """Each point's IGD+ distance to the front of all points (0 on the front).

    Objectives are scaled to [0, 1] by their range over `values` (a constant objective
    contributes nothing); a point's distance is min over front points q of
    `|| max(q - p, 0) ||`, how far it is from being as good as some front point. With
    `feasible`, the front is the feasible one and an infeasible point's distance is
    `1 + sqrt(m)` plus its distance (beyond any feasible point's).
    """
    V = _as_matrix(values)
    n, m = V.shape
    if n == 0:
        return np.zeros(0)
    f = np.ones(n, dtype=bool) if feasible is None else np.asarray(feasible, dtype=bool)
    lo, hi = V.min(axis=0), V.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    S = (V - lo) / span
    pool = S[f] if f.any() else S
    F = pool[pareto_mask(pool)]
    out = np.empty(n)
    for s in range(0, n, 1024):
        gap = np.maximum(F[None, :, :] - S[s : s + 1024, None, :], 0.0)
        out[s : s + 1024] = np.sqrt((gap**2).sum(axis=2)).min(axis=1)
    if f.any():
        out[~f] += 1.0 + np.sqrt(m)
    return out


def point_volumes(values: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """Each point's own hypervolume with objectives scaled to [0, 1] by their range over
    `values` and the reference at the worst corner: the product of its scaled objectives
    (in [0, 1]). With `feasible`, infeasible points get their volume minus 1 (below all)."""
    V = _as_matrix(values)
    if len(V) == 0:
        return np.zeros(0)
    lo, hi = V.min(axis=0), V.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = np.prod((V - lo) / span, axis=1)
    if feasible is not None:
        out = out - (~np.asarray(feasible, dtype=bool))
    return out


AUGMENT = 0.05
"""Weight of the weighted sum added to the Chebyshev term (augmented Chebyshev, ParEGO)."""
GOLDEN = 0.6180339887498949


def mo_weights(k: int, m: int) -> np.ndarray:
    """The k-th weight vector on the simplex of m objectives (a deterministic sequence that
    covers it evenly: golden-ratio steps for two objectives, seeded Dirichlet draws beyond)."""
    if m == 1:
        return np.ones(1)
    if m == 2:
        u = (k * GOLDEN) % 1.0
        return np.array([u, 1.0 - u])
    return np.random.default_rng(k).dirichlet(np.ones(m))


def chebyshev_scores(
    values: np.ndarray, weights: np.ndarray, feasible: np.ndarray | None = None
) -> np.ndarray:
    """Augmented Chebyshev scalarisation (higher is better): objectives scaled to [0, 1] by
    their range over `values`, score = min_j w_j s_j + AUGMENT * sum_j w_j s_j. With
    `feasible`, infeasible points score below every feasible one (minus 2)."""
    V = _as_matrix(values)
    if len(V) == 0:
        return np.zeros(0)
    lo, hi = V.min(axis=0), V.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    S = (V - lo) / span
    w = np.asarray(weights, dtype=float)
    out = (S * w).min(axis=1) + AUGMENT * (S * w).sum(axis=1)
    if feasible is not None:
        out = out - 2.0 * (~np.asarray(feasible, dtype=bool))
    return out
