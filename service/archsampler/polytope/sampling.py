"""`sample`: one entry point over the hit-and-run, Gibbs and rejection samplers."""

from __future__ import annotations

import math

import numpy as np

from archsampler.polytope.gibbs import GibbsChains
from archsampler.polytope.hit_and_run import DEFAULT_BANK
from archsampler.polytope.hit_and_run import DirectionBank
from archsampler.polytope.hit_and_run import HitAndRunChains
from archsampler.polytope.polytope import EmptyPolytopeError
from archsampler.polytope.polytope import Polytope
from archsampler.polytope.polytope import interior_point
from archsampler.polytope.rejection import rejection_sample

METHODS = ("hit_and_run", "gibbs", "rejection")
MAX_CHAINS = 256


def sample(
    poly: Polytope,
    n: int,
    rng: np.random.Generator,
    method: str = "hit_and_run",
    x0: np.ndarray | None = None,
    chains: int | None = None,
    thin: int | None = None,
    burn_in: int | None = None,
    directions: DirectionBank | None = None,
) -> np.ndarray:
    """Draw `n` points (approximately) uniformly from `poly`.

    The MCMC methods run `chains` independent chains in lock-step, all started at `x0`; each
    chain makes `burn_in` moves, then keeps a point every `thin` moves until `n` points are
    kept. Rows come chain-interleaved (the first point of every chain, then the second, ...).
    Defaults favour latency (LaNAS asks for tens to hundreds of candidates per call):
    `chains = min(n, 256)`, `burn_in = thin = d` moves (one coordinate sweep for Gibbs).
    Raise `burn_in` for points closer to exactly uniform; `rejection` is exact but slow
    when the region is a small part of its box.

    Args:
        poly: the region.
        n: number of points wanted (>= 0).
        rng: source of randomness; the same generator state gives the same output.
        method: "hit_and_run", "gibbs" (coordinate hit-and-run) or "rejection".
        x0: a strictly feasible (d,) starting point; default the Chebyshev centre.
        chains: number of parallel chains (MCMC methods).
        thin: moves between two kept points of one chain (MCMC methods).
        burn_in: moves before a chain's first kept point (MCMC methods).
        directions: hit-and-run only: a direction bank to reuse across calls (saves
            drawing one per call); default a fresh bank sized to the number of moves.

    Returns:
        (n, d) points inside `poly` (`rejection` may return fewer rows when its acceptance
        rate is tiny: its number of proposals is bounded).

    Raises:
        ValueError: unknown method, bad `n`/`chains`/`thin`/`burn_in`, or `x0` not strictly
            inside the region.
        EmptyPolytopeError: `x0` is None and the region has no interior.
    """
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; valid: {', '.join(METHODS)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    start = _start_point(poly, x0)
    d = poly.dim
    if n == 0:
        return np.zeros((0, d))
    if method == "rejection":
        return rejection_sample(poly, n, rng)
    chains = min(n, MAX_CHAINS) if chains is None else chains
    thin = d if thin is None else thin
    burn_in = d if burn_in is None else burn_in
    if chains < 1 or thin < 1 or burn_in < 0:
        raise ValueError("need chains >= 1, thin >= 1 and burn_in >= 0")
    per_chain = math.ceil(n / chains)
    X0 = np.tile(start, (chains, 1))
    if method == "gibbs":
        kernel = GibbsChains(poly, X0, rng)
    else:
        draws = chains * (burn_in + thin * (per_chain - 1))
        bank = int(min(DEFAULT_BANK, max(draws, 1)))
        kernel = HitAndRunChains(poly, X0, rng, bank=bank, directions=directions)
    kept = np.empty((per_chain, chains, d))
    kernel.step(burn_in)
    kept[0] = kernel.points
    for i in range(1, per_chain):
        kernel.step(thin)
        kept[i] = kernel.points
    return kept.reshape(-1, d)[:n]


def _start_point(poly: Polytope, x0: np.ndarray | None) -> np.ndarray:
    """The validated starting point, or the Chebyshev centre."""
    if x0 is None:
        centre = interior_point(poly)
        if centre is None:
            raise EmptyPolytopeError("the polytope has no interior point to sample from")
        return centre
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.shape != (poly.dim,):
        raise ValueError(f"x0 must have shape ({poly.dim},), got {x0.shape}")
    if not poly.strictly_contains(x0):
        raise ValueError("x0 must lie strictly inside the polytope")
    return x0
