"""`archsampler bench sampler`: our polytope samplers against hopsy's, steps/s and ESS/s.

Polytopes: the box [0, 1]^60 cut by 6 ("d60_m6") and by 20 ("d60_m20") random half-spaces
through points near the box centre (fixed seed). Starting points: one per chain from
`archsampler.polytope.sampling.start_points` (the shipped dispersed starts: exact uniform by
rejection where the box reaches, else dispersed from the Chebyshev centre), drawn before the
clock starts and shared: ours runs `chains` lock-step chains from them, hopsy runs one chain
(from the first) and, in a second row, as many chains as ours (from the same points, one
process, `hopsy.sample` over the list of chains). Every sampler runs for `--seconds` of wall
time (one thread each: our kernels never call BLAS in their step loop). States are stored
every `thin` moves (the same `thin` for ours and hopsy's variant of a method); the first
half of every stored trace is discarded as burn-in, but the time of the whole run counts.

ESS is `archsampler.polytope.ess` (multi-chain Geyer initial monotone sequence) applied to
the stored traces of EVERY chain of every sampler (nothing is extrapolated); `ess_per_s`
uses the MINIMUM over the 60 coordinates (`ess_median_per_s` gives the median). Every stored
sample is checked with `Polytope.contains`; the count of failures is `infeasible`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from types import ModuleType

import numpy as np
from tqdm import tqdm

from archsampler.polytope import Polytope
from archsampler.polytope import ess
from archsampler.polytope.gibbs import GibbsChains
from archsampler.polytope.hit_and_run import HitAndRunChains
from archsampler.polytope.sampling import start_points

DIM = 60
CASES = {"d60_m6": 6, "d60_m20": 20}
SEED = 0
# (our kernel, our chains, hopsy proposal name, thin) per method. Stored traces are float32;
# gibbs keeps a state every 2 sweeps so all 1,024 chains fit in memory (~150 MB at 5 s).
METHODS = {
    "hit_and_run": (HitAndRunChains, 256, "UniformHitAndRunProposal", 20),
    "gibbs": (GibbsChains, 1024, "UniformCoordinateHitAndRunProposal", 2 * DIM),
}
HOPSY_NAMES = {"hit_and_run": "hopsy_hit_and_run", "gibbs": "hopsy_coordinate_hit_and_run"}
MIN_RECORDS = 8  # per chain, whatever `--seconds` (ESS needs 4 after the burn-in cut)
HOPSY_MANY = {k: f"{v}_x{METHODS[k][1]}" for k, v in HOPSY_NAMES.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command-line options."""
    parser.add_argument("--json", type=str, default=None, help="write the results here")
    parser.add_argument("--seconds", type=float, default=5.0, help="wall time per sampler/case")


def make_case(m: int, seed: int = SEED) -> Polytope:
    """The unit box in DIM dimensions cut by m random half-spaces near its centre."""
    rng = np.random.default_rng(seed + m)
    A = rng.standard_normal((m, DIM))
    b = A @ np.full(DIM, 0.5) + 0.05 * np.abs(rng.standard_normal(m))
    return Polytope(np.zeros(DIM), np.ones(DIM), A, b)


def _import_hopsy() -> ModuleType:
    """hopsy, or a SystemExit naming the extra that installs it."""
    try:
        import hopsy
    except ImportError as exc:
        raise SystemExit(
            "archsampler bench sampler needs hopsy: pip install 'archsampler[bench]'"
        ) from exc
    return hopsy


def starts(poly: Polytope, method: str) -> np.ndarray:
    """The shared dispersed starting points (one per chain of ours) of a case and method."""
    _, chains, _, _ = METHODS[method]
    X0, burn_in = start_points(poly, chains, np.random.default_rng(SEED + 1), method)
    if burn_in:  # copies or a warm-up: finish dispersing them, as `sample` would
        kernel = METHODS[method][0](poly, X0, np.random.default_rng(SEED + 2))
        kernel.step(burn_in)
        X0 = np.array(kernel.points)
    return X0


def _multichain_ess(kept: np.ndarray) -> np.ndarray:
    """`ess` of (chains, draws, d) traces, a few coordinates at a time (bounded memory)."""
    return np.concatenate([ess(kept[:, :, j : j + 4]) for j in range(0, kept.shape[2], 4)])


def _summary(poly: Polytope, traces: np.ndarray, steps: int, seconds: float) -> dict:
    """Steps/s, ESS/s and infeasible count of (chains, records, d) traces (all chains)."""
    infeasible = sum(
        int(np.sum(~poly.contains(traces[c].astype(np.float64), tol=1e-6)))
        for c in range(traces.shape[0])
    )
    kept = traces[:, traces.shape[1] // 2 :]
    e = _multichain_ess(kept)
    return {
        "steps_per_s": steps / seconds,
        "ess_per_s": float(np.nanmin(e)) / seconds,
        "ess_median_per_s": float(np.nanmedian(e)) / seconds,
        "infeasible": infeasible,
        "steps": steps,
        "seconds": seconds,
        "chains": int(traces.shape[0]),
        "chains_measured": int(traces.shape[0]),
        "records_per_chain": int(traces.shape[1]),
    }


def run_ours(poly: Polytope, method: str, seconds: float, X0: np.ndarray) -> dict:
    """Run our lock-step chains from `X0` for `seconds`; return the summary."""
    kernel_cls, chains, _, thin = METHODS[method]
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    kernel = kernel_cls(poly, X0, rng)
    records = []
    while time.perf_counter() - start < seconds or len(records) < MIN_RECORDS:
        kernel.step(thin)
        records.append(kernel.points.astype(np.float32))
    elapsed = time.perf_counter() - start
    traces = np.stack(records, axis=1)
    del records
    out = _summary(poly, traces, chains * thin * traces.shape[1], elapsed)
    out["infeasible"] += int(np.sum(~poly.contains(kernel.points)))
    return out


def run_hopsy(poly: Polytope, method: str, seconds: float, X0: np.ndarray) -> dict:
    """Run hopsy's matching proposal, one chain per row of `X0`, for `seconds` in all."""
    hopsy = _import_hopsy()
    _, _, proposal, thin = METHODS[method]
    eye = np.eye(DIM)
    A = np.vstack([poly.A, eye, -eye])
    b = np.concatenate([poly.b, poly.upper, -poly.lower])
    start = time.perf_counter()
    problem = hopsy.Problem(A, b)
    chains = [hopsy.MarkovChain(problem, getattr(hopsy, proposal), starting_point=x) for x in X0]
    rngs = [hopsy.RandomNumberGenerator(SEED + i) for i in range(len(chains))]
    chunks = []
    chunk = max(MIN_RECORDS, 64 // len(chains))
    while time.perf_counter() - start < seconds or not chunks:
        _, states = hopsy.sample(chains, rngs, n_samples=chunk, thinning=thin)
        chunks.append(np.asarray(states, dtype=np.float32))
    elapsed = time.perf_counter() - start
    traces = np.concatenate(chunks, axis=1)
    return _summary(poly, traces, thin * traces.shape[0] * traces.shape[1], elapsed)


def run(args: argparse.Namespace) -> int:
    """Run every sampler on every case, print the table, optionally write JSON."""
    _import_hopsy()
    jobs: list[tuple[str, str, Callable[..., dict], Polytope, str, np.ndarray]] = []
    for case, m in CASES.items():
        poly = make_case(m)
        for method in METHODS:
            X0 = starts(poly, method)
            jobs += [
                (method, case, run_ours, poly, method, X0),
                (HOPSY_NAMES[method], case, run_hopsy, poly, method, X0[:1]),
                (HOPSY_MANY[method], case, run_hopsy, poly, method, X0),
            ]
    results: dict = {}
    for name, case, fn, poly, method, X0 in tqdm(jobs, desc="bench sampler", file=sys.stderr):
        results.setdefault(name, {})[case] = fn(poly, method, args.seconds, X0)
    ratios: dict = {}
    for method in METHODS:
        for hopsy_name in (HOPSY_NAMES[method], HOPSY_MANY[method]):
            for case in CASES:
                ours, theirs = results[method][case], results[hopsy_name][case]
                ratios.setdefault(f"{method}/{hopsy_name}", {})[case] = {
                    "steps_per_s": ours["steps_per_s"] / theirs["steps_per_s"],
                    "ess_per_s": ours["ess_per_s"] / theirs["ess_per_s"],
                }
    results["ratios"] = ratios
    results["ess_statistic"] = "minimum over coordinates (ess_median_per_s: median)"
    results["chains_measured"] = "all"
    results["seconds"] = args.seconds
    _print_table(results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


def _print_table(results: dict) -> None:
    """Human-readable table with the ours/hopsy ratios."""
    print(
        f"{'sampler':36s} {'case':8s} {'chains':>6s} {'steps/s':>10s} {'ESS/s(min)':>11s} "
        f"{'ESS/s(med)':>11s} {'infeas':>6s}"
    )
    for method in METHODS:
        for name in (method, HOPSY_NAMES[method], HOPSY_MANY[method]):
            for case, r in results[name].items():
                print(
                    f"{name:36s} {case:8s} {r['chains']:6d} {r['steps_per_s']:10.3g} "
                    f"{r['ess_per_s']:11.4g} {r['ess_median_per_s']:11.4g} {r['infeasible']:6d}"
                )
    print()
    for pair, by_case in results["ratios"].items():
        for case, r in by_case.items():
            print(
                f"{pair:52s} {case:8s} steps/s x{r['steps_per_s']:.2f}  "
                f"ESS/s x{r['ess_per_s']:.2f}"
            )
