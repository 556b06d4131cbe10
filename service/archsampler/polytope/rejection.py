"""Rejection sampling from the bounding box."""

from __future__ import annotations

import numpy as np

from archsampler.polytope.polytope import Polytope

# Proposals drawn before giving up (bounds the work on thin regions).
MAX_DRAWS_PER_SAMPLE = 1000
MAX_DRAWS = 1 << 18
_MIN_BATCH = 1024
_MAX_BATCH = 1 << 16


def rejection_sample(
    poly: Polytope, n: int, rng: np.random.Generator, max_draws: int | None = None
) -> np.ndarray:
    """Exactly uniform points: uniform draws in the box, kept when they satisfy `A x <= b`.

    Draws at most `max_draws` proposals (default `min(MAX_DRAWS_PER_SAMPLE * n, MAX_DRAWS)`),
    so it always terminates quickly.

    Returns:
        (k, d) points with k <= n; k < n only when the acceptance rate is tiny.
    """
    d = poly.dim
    kept: list[np.ndarray] = []
    found = 0
    budget = min(MAX_DRAWS_PER_SAMPLE * n, MAX_DRAWS) if max_draws is None else max_draws
    while found < n and budget > 0:
        batch = int(min(budget, _MAX_BATCH, max(_MIN_BATCH, 4 * (n - found))))
        budget -= batch
        X = poly.lower + (poly.upper - poly.lower) * rng.random((batch, d))
        if poly.A.shape[0]:
            X = X[np.all(poly.slack(X) >= 0, axis=1)]
        kept.append(X)
        found += X.shape[0]
    if not kept:
        return np.zeros((0, d))
    return np.concatenate(kept)[:n]
