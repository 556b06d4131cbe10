"""Statistical uniformity of every sampler on polytopes with known marginals (KS tests)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from archsampler.polytope import METHODS
from archsampler.polytope import Polytope
from archsampler.polytope import sample

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
    X = sample(poly, 400, np.random.default_rng(4), method=method, chains=400, burn_in=0)
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
