"""Feasibility, reproducibility and error behaviour of `archsampler.polytope.sample`."""

from __future__ import annotations

import numpy as np
import pytest

from archsampler.polytope import METHODS
from archsampler.polytope import EmptyPolytopeError
from archsampler.polytope import Polytope
from archsampler.polytope import interior_point
from archsampler.polytope import sample

MCMC = ("hit_and_run", "gibbs")


def _random_polytope(d: int, m: int, seed: int, margin: float = 0.1) -> Polytope:
    """Unit box cut by m random half-spaces passing near its centre."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, d))
    b = A @ np.full(d, 0.5) + margin * np.abs(rng.standard_normal(m))
    return Polytope(np.zeros(d), np.ones(d), A, b)


def _thin_polytope(d: int) -> Polytope:
    """A slab of width ~1e-3 along the diagonal of a box with unequal sides."""
    normal = np.ones(d) / np.sqrt(d)
    centre = normal @ np.full(d, 0.5)
    A = np.vstack([normal, -normal])
    b = np.array([centre + 5e-4, -(centre - 5e-4)])
    return Polytope(np.zeros(d), np.linspace(1.0, 3.0, d), A, b)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("d,m,seed", [(2, 3, 0), (10, 5, 1), (60, 20, 2), (30, 0, 3)])
def test_every_sample_is_feasible(method: str, d: int, m: int, seed: int) -> None:
    poly = _random_polytope(d, m, seed)
    X = sample(poly, 300, np.random.default_rng(seed), method=method)
    if method != "rejection" or m < 10:
        assert X.shape == (300, d)
    assert poly.contains(X).all()
    assert poly.contains(X, tol=0.0).all()


@pytest.mark.parametrize("method", MCMC)
def test_long_chains_on_a_thin_region_stay_feasible(method: str) -> None:
    poly = _thin_polytope(20)
    X = sample(poly, 400, np.random.default_rng(5), method=method, chains=40, thin=200)
    assert X.shape == (400, 20)
    assert poly.contains(X, tol=0.0).all()
    # The chains move along the slab (slowly: it is 1e-3 wide) rather than sitting still.
    assert np.ptp(X[:, 0]) > 1e-3


def test_rejection_on_a_thin_region_returns_fewer_rows_but_terminates() -> None:
    poly = _thin_polytope(20)
    X = sample(poly, 200, np.random.default_rng(0), method="rejection")
    assert X.shape[0] < 200
    assert poly.contains(X).all()


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_output(method: str) -> None:
    poly = _random_polytope(8, 4, 7)
    a = sample(poly, 64, np.random.default_rng(11), method=method)
    b = sample(poly, 64, np.random.default_rng(11), method=method)
    c = sample(poly, 64, np.random.default_rng(12), method=method)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("method", METHODS)
def test_empty_polytope_raises(method: str) -> None:
    A = np.array([[1.0, 1.0]])
    b = np.array([-0.5])  # x + y <= -0.5 misses the unit box
    poly = Polytope(np.zeros(2), np.ones(2), A, b)
    assert interior_point(poly) is None
    with pytest.raises(EmptyPolytopeError):
        sample(poly, 10, np.random.default_rng(0), method=method)


def test_flat_polytope_has_no_interior() -> None:
    A = np.array([[1.0, 1.0], [-1.0, -1.0]])
    b = np.array([1.0, -1.0])  # the segment x + y == 1
    poly = Polytope(np.zeros(2), np.ones(2), A, b)
    assert interior_point(poly) is None
    with pytest.raises(EmptyPolytopeError):
        sample(poly, 5, np.random.default_rng(0))


def test_unknown_method_lists_valid_names() -> None:
    poly = _random_polytope(3, 2, 0)
    with pytest.raises(ValueError, match="hit_and_run.*gibbs.*rejection"):
        sample(poly, 5, np.random.default_rng(0), method="slice")


@pytest.mark.parametrize("x0", [np.full(3, 2.0), np.zeros(3), np.full(4, 0.5)])
def test_x0_must_be_strictly_feasible(x0: np.ndarray) -> None:
    poly = _random_polytope(3, 2, 0)
    with pytest.raises(ValueError, match="x0"):
        sample(poly, 5, np.random.default_rng(0), x0=x0)


def test_interior_point_is_the_chebyshev_centre_of_a_triangle() -> None:
    # x, y >= 0, x + y <= 1: incentre at r (1, 1) with r = 1 / (2 + sqrt 2).
    poly = Polytope(np.zeros(2), np.ones(2), np.array([[1.0, 1.0]]), np.array([1.0]))
    r = 1 / (2 + np.sqrt(2))
    np.testing.assert_allclose(interior_point(poly), [r, r], atol=1e-7)


def test_contains_and_intersect() -> None:
    box = Polytope(np.zeros(2), np.ones(2), np.zeros((0, 2)), np.zeros(0))
    half = box.intersect(np.array([[1.0, 0.0]]), np.array([0.5]))
    pts = np.array([[0.25, 0.5], [0.75, 0.5], [1.5, 0.5]])
    assert box.contains(pts).tolist() == [True, True, False]
    assert half.contains(pts).tolist() == [True, False, False]
    assert bool(half.contains(np.array([0.5, 0.5])))
    assert box.A.shape == (0, 2) and half.A.shape == (1, 2)


def test_invalid_polytope_is_rejected() -> None:
    with pytest.raises(ValueError):
        Polytope(np.ones(2), np.zeros(2), np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError):
        Polytope(np.zeros(2), np.ones(2), np.zeros((1, 3)), np.zeros(1))
