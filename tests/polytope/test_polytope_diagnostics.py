"""The effective-sample-size estimator on series whose ESS is known."""

from __future__ import annotations

import numpy as np

from archsampler.polytope import ess


def _ar1(rng: np.random.Generator, phi: float, chains: int, n: int, k: int) -> np.ndarray:
    """Stationary AR(1) series, (chains, n, k)."""
    x = np.empty((chains, n, k))
    x[:, 0] = rng.standard_normal((chains, k)) / np.sqrt(1 - phi**2)
    noise = rng.standard_normal((chains, n, k))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def test_iid_draws_have_ess_close_to_their_count() -> None:
    x = np.random.default_rng(0).standard_normal((4, 2000, 3))
    e = ess(x)
    assert e.shape == (3,)
    assert np.all(np.abs(e / 8000 - 1) < 0.15)


def test_ar1_ess_matches_theory() -> None:
    phi = 0.9
    x = _ar1(np.random.default_rng(1), phi, chains=4, n=5000, k=3)
    expected = 4 * 5000 * (1 - phi) / (1 + phi)
    assert np.all(np.abs(ess(x) / expected - 1) < 0.25)


def test_chains_stuck_in_different_places_have_low_ess() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 1000, 1)) * 0.01 + np.arange(4)[:, None, None]
    assert ess(x)[0] < 50


def test_single_chain_input() -> None:
    x = np.random.default_rng(3).standard_normal((1000, 2))
    assert np.all(ess(x) > 700)
