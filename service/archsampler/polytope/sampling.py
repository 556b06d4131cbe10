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
STARTS = ("dispersed", "point")
MAX_CHAINS = 256
# Box draws per chain (at most START_DRAWS in all) spent looking for exact uniform starts.
START_DRAWS_PER_CHAIN = 64
START_DRAWS = 1 << 16
# Coordinate hit-and-run moves per dimension that disperse starts from one point when
# rejection finds none (a region that is a tiny part of its box), and the default burn-in,
# in moves per dimension, of chains started at one point (`start="point"`): enough for the
# uniformity tests at d = 30 and 60 (tests/polytope/test_polytope_uniformity.py).
WARM_UP = 16
POINT_BURN_IN = {"hit_and_run": 32, "gibbs": 16}


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
    start: str = "dispersed",
) -> np.ndarray:
    """Draw `n` points uniformly (MCMC: approximately) from `poly`.

    The MCMC methods run `chains` independent chains in lock-step; each chain makes
    `burn_in` moves, then keeps a point every `thin` moves until `n` points are kept. Rows
    come chain-interleaved (the first point of every chain, then the second, ...).

    Starts (`start="dispersed"`, the default): every chain starts at its own exactly uniform
    point, drawn by rejection from the bounding box with a bounded number of draws
    (`START_DRAWS_PER_CHAIN` per chain, `START_DRAWS` in all). A chain started from the
    uniform distribution stays uniform, so then no burn-in is needed (default 0). When only
    some starts are found, the other chains start at copies of them and the default burn-in
    is `d` moves (to tell the copies apart). When none is found (a region that is a tiny part
    of its box), the chains are dispersed from `x0` by `WARM_UP * d` coordinate hit-and-run
    moves and the default burn-in is `d` moves. With `start="point"` every chain starts at
    `x0` and the default burn-in is `POINT_BURN_IN[method] * d` moves. These defaults pass
    the uniformity tests at d = 30 and 60. `thin` defaults to `d` moves (one coordinate
    sweep for Gibbs).

    Args:
        poly: the region.
        n: number of points wanted (>= 0).
        rng: source of randomness; the same generator state gives the same output.
        method: "hit_and_run", "gibbs" (coordinate hit-and-run) or "rejection".
        x0: a strictly feasible (d,) point: the start of chains that got no dispersed start;
            default the Chebyshev centre.
        chains: number of parallel chains (MCMC methods); default `min(n, 256)`.
        thin: moves between two kept points of one chain (MCMC methods).
        burn_in: moves before a chain's first kept point (MCMC methods); default above.
        directions: hit-and-run only: a direction bank to reuse across calls (saves
            drawing one per call); default a fresh bank sized to the number of moves.
        start: "dispersed" (default) or "point" (every chain at `x0`).

    Returns:
        (n, d) points inside `poly` (`rejection` may return fewer rows when its acceptance
        rate is tiny: its number of proposals is bounded).

    Raises:
        ValueError: unknown method or start, bad `n`/`chains`/`thin`/`burn_in`, or `x0` not
            strictly inside the region.
        EmptyPolytopeError: the region has no interior (when a start point is needed).
    """
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; valid: {', '.join(METHODS)}")
    if start not in STARTS:
        raise ValueError(f"unknown start {start!r}; valid: {', '.join(STARTS)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    d = poly.dim
    if x0 is not None or n == 0 or method == "rejection":
        x0 = _start_point(poly, x0)
    if n == 0:
        return np.zeros((0, d))
    if method == "rejection":
        return rejection_sample(poly, n, rng)
    chains = min(n, MAX_CHAINS) if chains is None else chains
    thin = d if thin is None else thin
    if chains < 1 or thin < 1 or (burn_in is not None and burn_in < 0):
        raise ValueError("need chains >= 1, thin >= 1 and burn_in >= 0")
    X0, default_burn_in = start_points(poly, chains, rng, method, x0, start)
    burn_in = default_burn_in if burn_in is None else burn_in
    per_chain = math.ceil(n / chains)
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


def start_points(
    poly: Polytope,
    chains: int,
    rng: np.random.Generator,
    method: str = "hit_and_run",
    x0: np.ndarray | None = None,
    start: str = "dispersed",
) -> tuple[np.ndarray, int]:
    """Starting points (chains, d) of MCMC chains and the burn-in (moves) they need.

    See `sample`: exact uniform starts by bounded rejection from the box (burn-in 0), copies
    of too few of them (burn-in d), or points dispersed from `x0` / the Chebyshev centre by
    coordinate hit-and-run (burn-in d); with `start="point"`, `x0` itself (burn-in
    `POINT_BURN_IN[method] * d`). Starts are strictly inside the region.
    """
    d = poly.dim
    if start == "dispersed":
        budget = min(START_DRAWS, START_DRAWS_PER_CHAIN * chains)
        found = _strict(poly, rejection_sample(poly, chains, rng, max_draws=budget))
        if len(found) >= chains:
            return found[:chains], 0
        if len(found):
            return found[np.arange(chains) % len(found)], d
    X0 = np.tile(_start_point(poly, x0), (chains, 1))
    if start == "point":
        return X0, POINT_BURN_IN[method] * d
    warm_up = GibbsChains(poly, X0, rng)  # coordinate moves: cheap, and mix fast from a point
    warm_up.step(WARM_UP * d)
    return np.array(warm_up.points), d


def _strict(poly: Polytope, X: np.ndarray) -> np.ndarray:
    """The rows strictly inside (the kernels need positive slack to move)."""
    inside = np.all(X > poly.lower, axis=1) & np.all(X < poly.upper, axis=1)
    if poly.A.shape[0]:
        inside &= np.all(poly.slack(X) > 0, axis=1)
    return X[inside]


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
