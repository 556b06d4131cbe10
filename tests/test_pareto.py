"""Pareto front, non-dominated sorting, crowding distance and hypervolume vs brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from archsampler.pareto import crowding_distance
from archsampler.pareto import dominates
from archsampler.pareto import domination_counts
from archsampler.pareto import hypervolume
from archsampler.pareto import hypervolume_contributions
from archsampler.pareto import nondominated_ranks
from archsampler.pareto import pareto_mask


def brute_front(V: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    f = np.ones(len(V), bool) if feasible is None else feasible
    out = np.zeros(len(V), bool)
    for i in range(len(V)):
        if not f[i]:
            continue
        out[i] = not any(f[j] and dominates(V[j], V[i]) for j in range(len(V)) if j != i)
    return out


def brute_hv(V: np.ndarray, ref: np.ndarray, grid: int = 0) -> float:
    """Exact volume of the union of boxes [ref, v] via the coordinate grid."""
    V = V[np.all(V > ref, axis=1)]
    if not len(V):
        return 0.0
    axes = [np.unique(np.concatenate([[r], V[:, j]])) for j, r in enumerate(ref)]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        upper = np.array([a[i + 1] for a, i in zip(axes, cell, strict=True)])
        lower = np.array([a[i] for a, i in zip(axes, cell, strict=True)])
        if np.any(np.all(V >= upper, axis=1)):
            total += float(np.prod(upper - lower))
    return total


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_front_and_ranks_match_brute_force(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    V = rng.integers(0, 6, size=(40, m)).astype(float)  # many ties and duplicates
    feasible = rng.random(40) > 0.2
    assert (pareto_mask(V) == brute_front(V)).all()
    assert (pareto_mask(V, feasible) == brute_front(V, feasible)).all()
    ranks = nondominated_ranks(V, feasible)
    rest = np.ones(40, bool)
    for r in range(ranks.max() + 1):  # peeling fronts off one by one gives the same ranks
        sub = np.flatnonzero(rest)
        front = sub[brute_front(V[sub], feasible[sub]) | ~feasible[sub] & ~feasible[sub].any()]
        if not feasible[sub].any():
            front = sub[brute_front(V[sub])]
        assert set(np.flatnonzero(ranks == r)) == set(front)
        rest[front] = False
    counts = domination_counts(V, feasible, chunk=7)
    for i in range(40):
        expect = sum(
            (feasible[j] and not feasible[i])
            or (feasible[j] == feasible[i] and dominates(V[j], V[i]))
            for j in range(40)
        )
        assert counts[i] == expect


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_grid_volume(m: int) -> None:
    rng = np.random.default_rng(m)
    for _ in range(5):
        V = rng.random((12, m))
        ref = np.full(m, 0.1)
        assert hypervolume(V, ref) == pytest.approx(brute_hv(V, ref), rel=1e-12)
    contrib = hypervolume_contributions(V, ref)
    front = pareto_mask(V) & np.all(V > ref, axis=1)
    assert (contrib[~front] == 0).all() and (contrib[front] > 0).all()


def test_crowding_distance_boundaries_infinite() -> None:
    V = np.array([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]])
    d = crowding_distance(V)
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx((3 - 0) / 4 + (4 - 1) / 4)
    assert d[2] == pytest.approx((4 - 1) / 4 + (3 - 0) / 4)
