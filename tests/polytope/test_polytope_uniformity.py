"""Statistical uniformity of every sampler on polytopes with known marginals (KS tests)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from archsampler.polytope import METHODS
from archsampler.polytope import Polytope
from archsampler.polytope import sample
from archsampler.polytope.rejection import rejection_sample
from archsampler.polytope.sampling import start_points

# Fixed seeds; a correct sampler fails a test at this level about once in a thousand seeds.
ALPHA = 1e-3
N = 4000


def _draw(poly: Polytope, method: str, seed: int) -> np.ndarray:
    """Nearly independent draws: many chains, long burn-in and thinning in low dimension."""
    return sample(
        poly, N, np.random.default_rng(seed), method=method, chains=400, burn_in=200, thin=40
    )


@pytest.mark.parametrize("method", METHODS)
def test_triangle(method: str) -> None:
    # {x, y >= 0, x + y <= 1}: s = x + y has CDF s^2 and x has CDF 1 - (1 - x)^2.
    poly = Polytope(np.zeros(2), np.ones(2), np.array([[1.0, 1.0]]), np.array([1.0]))
    X = _draw(poly, method, seed=1)
    assert stats.kstest(X.sum(axis=1), lambda s: s**2).pvalue > ALPHA
    assert stats.kstest(X[:, 0], lambda x: 1 - (1 - x) ** 2).pvalue > ALPHA


@pytest.mark.parametrize("method", METHODS)
def test_box_cut_by_a_half_space(method: str) -> None:
    # [0, 2] x [0, 1]^3 cut by x0 / 2 + x1 <= 1: u = x0 / 2 + x1 has CDF u^2, x2 and x3 stay
    # uniform on [0, 1] and independent of the cut coordinates.
    A = np.array([[0.5, 1.0, 0.0, 0.0]])
    poly = Polytope(np.zeros(4), np.array([2.0, 1.0, 1.0, 1.0]), A, np.array([1.0]))
    X = _draw(poly, method, seed=2)
    assert stats.kstest(X @ A[0], lambda u: u**2).pvalue > ALPHA
    assert stats.kstest(X[:, 2], "uniform").pvalue > ALPHA
    assert stats.kstest(X[:, 3], "uniform").pvalue > ALPHA


@pytest.mark.parametrize("method", METHODS)
def test_simplex_in_five_dimensions(method: str) -> None:
    # {x >= 0, sum x <= 1} in d = 5: s = sum x has CDF s^5.
    d = 5
    poly = Polytope(np.zeros(d), np.ones(d), np.ones((1, d)), np.array([1.0]))
    X = _draw(poly, method, seed=3)
    assert stats.kstest(X.sum(axis=1), lambda s: s**d).pvalue > ALPHA


@pytest.mark.parametrize("method", ("hit_and_run", "gibbs"))
def test_the_test_detects_an_unmixed_chain(method: str) -> None:
    # Without burn-in every chain's first point sits next to the start: the KS test must see it.
    poly = Polytope(np.zeros(2), np.ones(2), np.array([[1.0, 1.0]]), np.array([1.0]))
    X = sample(
        poly, 400, np.random.default_rng(4), method=method, chains=400, burn_in=0, start="point"
    )
    assert stats.kstest(X.sum(axis=1), lambda s: s**2).pvalue < ALPHA


def test_a_reused_direction_bank_stays_uniform_on_two_regions() -> None:
    # LaNAS draws one bank and reuses it for every region: still uniform on each of them.
    from archsampler.polytope.hit_and_run import DirectionBank

    rng = np.random.default_rng(7)
    bank = DirectionBank(rng, 4096, 2)
    triangle = Polytope(np.zeros(2), np.ones(2), np.array([[1.0, 1.0]]), np.array([1.0]))
    upper = Polytope(np.zeros(2), np.ones(2), np.array([[-1.0, -1.0]]), np.array([-1.0]))
    for poly, cdf in ((triangle, lambda s: s**2), (upper, lambda s: 1 - (2 - s) ** 2)):
        X = sample(poly, N, rng, chains=400, burn_in=200, thin=40, directions=bank)
        assert poly.contains(X).all()
        assert stats.kstest(X.sum(axis=1), cdf).pvalue > ALPHA
    with pytest.raises(ValueError, match="dimension 2, region 3"):
        sample(
            Polytope(np.zeros(3), np.ones(3), np.zeros((0, 3)), np.zeros(0)),
            10,
            rng,
            directions=bank,
        )


def _regions(d: int) -> dict[str, tuple[Polytope, np.ndarray | None]]:
    """LaNAS-like regions in d dimensions, with an exact reference sample where one exists.

    "box": the unit box. "cuts": the box cut by 5 random half-spaces near its centre (a leaf
    a few splits deep; rejection finds some starts). "simplex": {x >= 0, sum x <= 1}, a
    1 / d! part of the box that rejection never hits (the dispersed warm-up must carry it).
    """
    rng = np.random.default_rng(d)
    box = Polytope(np.zeros(d), np.ones(d), np.zeros((0, d)), np.zeros(0))
    A = rng.standard_normal((5, d))
    cuts = Polytope(np.zeros(d), np.ones(d), A, A @ np.full(d, 0.5) + 0.02)
    simplex = Polytope(np.zeros(d), np.ones(d), np.ones((1, d)), np.array([1.0]))
    exact = np.random.default_rng(d + 1)
    return {
        "box": (box, exact.random((20_000, d))),
        "cuts": (cuts, rejection_sample(cuts, 20_000, exact, max_draws=1 << 24)),
        "simplex": (simplex, None),
    }


def _distance_test(X: np.ndarray, poly: Polytope, ref: np.ndarray | None) -> float:
    """KS p-value of the distance from the box centre (the issue's statistic) against the
    exact distribution: a reference sample, or for the simplex the CDF of sum x (t^d)."""
    if ref is None:
        d = poly.dim
        return stats.kstest(X.sum(axis=1), lambda t: np.clip(t, 0, 1) ** d).pvalue
    dist = np.linalg.norm(X - 0.5, axis=1)
    return stats.ks_2samp(dist, np.linalg.norm(ref - 0.5, axis=1)).pvalue


@pytest.mark.parametrize("d", [30, 60])
@pytest.mark.parametrize("method", ["hit_and_run", "gibbs"])
def test_the_shipped_defaults_are_uniform_in_30_and_60_dimensions(d: int, method: str) -> None:
    # As LaNAS calls it: `sample(poly, n, rng)` with every default, one point per chain.
    # 16 calls of 256 points are pooled (4,096 points) per region.
    for name, (poly, ref) in _regions(d).items():
        rng = np.random.default_rng(10 + d)
        X = np.concatenate([sample(poly, 256, rng, method=method) for _ in range(16)])
        assert poly.contains(X).all()
        assert _distance_test(X, poly, ref) > ALPHA, name
        if name == "box":  # the figure: 1.58-1.60 at d = 30 (the old burn-in: 1.23-1.47)
            assert abs(np.linalg.norm(X - 0.5, axis=1).mean() - np.sqrt(d / 12)) < 0.01


@pytest.mark.parametrize("d", [30, 60])
def test_the_old_defaults_fail_that_test(d: int) -> None:
    # d hit-and-run moves from the Chebyshev centre (the burn-in shipped before): not uniform.
    for name, (poly, ref) in _regions(d).items():
        rng = np.random.default_rng(10 + d)
        X = np.concatenate([sample(poly, 256, rng, burn_in=d, start="point") for _ in range(16)])
        assert _distance_test(X, poly, ref) < 1e-6, name


def test_dispersed_starts_are_exact_where_rejection_reaches_and_spread_otherwise() -> None:
    d = 30
    regions = _regions(d)
    rng = np.random.default_rng(3)
    box, _ = regions["box"]
    X0, burn_in = start_points(box, 256, rng)
    assert burn_in == 0 and len(np.unique(X0, axis=0)) == 256  # exact: no burn-in needed
    cuts, _ = regions["cuts"]
    X0, burn_in = start_points(cuts, 256, rng)
    assert burn_in == d and cuts.contains(X0).all()
    simplex, _ = regions["simplex"]
    X0, burn_in = start_points(simplex, 256, rng)
    assert burn_in == d and len(np.unique(X0, axis=0)) == 256
    assert all(simplex.strictly_contains(x) for x in X0)
    X0, burn_in = start_points(simplex, 8, rng, start="point")
    assert burn_in == 32 * d and (X0 == X0[0]).all()
    with pytest.raises(ValueError, match="unknown start"):
        sample(simplex, 4, rng, start="nowhere")
