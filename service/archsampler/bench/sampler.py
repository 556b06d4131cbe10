"""`archsampler bench sampler`: our polytope samplers against hopsy's, steps/s and ESS/s.

Polytopes: the box [0, 1]^60 cut by 6 ("d60_m6") and by 20 ("d60_m20") random half-spaces
through points near the box centre (fixed seed). Every sampler starts at the Chebyshev centre
and runs for `--seconds` of wall time (one thread each: our kernels never call BLAS in their
step loop, hopsy runs one chain in-process). States are stored every `thin` moves (the same
`thin` for ours and hopsy's variant of a method); the first half of every stored trace is
discarded as burn-in, but the time of the whole run counts.

ESS is `archsampler.polytope.ess` (multi-chain Geyer initial monotone sequence) applied to the
stored traces of every sampler; `ess_per_s` uses the MINIMUM over the 60 coordinates
(`ess_median_per_s` gives the median). Ours runs many chains in lock-step and records
`RECORDED_CHAINS` of them; since the chains are independent copies, the ESS of all chains is
that of the recorded ones times chains / recorded. Every stored sample (and the final state
of all our chains) is checked with `Polytope.contains`; the count of failures is `infeasible`.
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
from archsampler.polytope import interior_point
from archsampler.polytope.gibbs import GibbsChains
from archsampler.polytope.hit_and_run import HitAndRunChains

DIM = 60
CASES = {"d60_m6": 6, "d60_m20": 20}
SEED = 0
RECORDED_CHAINS = 32
# (our kernel, our chains, hopsy proposal name, thin) per method.
METHODS = {
    "hit_and_run": (HitAndRunChains, 256, "UniformHitAndRunProposal", 20),
    "gibbs": (GibbsChains, 1024, "UniformCoordinateHitAndRunProposal", DIM),
}
HOPSY_NAMES = {"hit_and_run": "hopsy_hit_and_run", "gibbs": "hopsy_coordinate_hit_and_run"}


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


def _summary(poly: Polytope, traces: np.ndarray, steps: int, seconds: float, scale: float) -> dict:
    """Steps/s, ESS/s and infeasible count of (chains, records, d) traces."""
    infeasible = int(np.sum(~poly.contains(traces.reshape(-1, DIM))))
    kept = traces[:, traces.shape[1] // 2 :]
    e = ess(kept) * scale
    return {
        "steps_per_s": steps / seconds,
        "ess_per_s": float(np.nanmin(e)) / seconds,
        "ess_median_per_s": float(np.nanmedian(e)) / seconds,
        "infeasible": infeasible,
        "steps": steps,
        "seconds": seconds,
        "records_per_chain": int(traces.shape[1]),
    }


def run_ours(poly: Polytope, method: str, seconds: float) -> dict:
    """Run our lock-step chains for `seconds`; return the summary."""
    kernel_cls, chains, _, thin = METHODS[method]
    x0 = interior_point(poly)
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    kernel = kernel_cls(poly, np.tile(x0, (chains, 1)), rng)
    records = []
    while time.perf_counter() - start < seconds:
        kernel.step(thin)
        records.append(kernel.points[:RECORDED_CHAINS].copy())
    elapsed = time.perf_counter() - start
    out = _summary(
        poly,
        np.stack(records, axis=1),
        chains * thin * len(records),
        elapsed,
        chains / RECORDED_CHAINS,
    )
    out["infeasible"] += int(np.sum(~poly.contains(kernel.points)))
    out["chains"] = chains
    return out


def run_hopsy(poly: Polytope, method: str, seconds: float) -> dict:
    """Run one hopsy chain with the matching proposal for `seconds`; return the summary."""
    hopsy = _import_hopsy()
    _, _, proposal, thin = METHODS[method]
    x0 = interior_point(poly)
    eye = np.eye(DIM)
    A = np.vstack([poly.A, eye, -eye])
    b = np.concatenate([poly.b, poly.upper, -poly.lower])
    start = time.perf_counter()
    chain = hopsy.MarkovChain(hopsy.Problem(A, b), getattr(hopsy, proposal), starting_point=x0)
    rng = hopsy.RandomNumberGenerator(SEED)
    chunks = []
    chunk = 64
    while time.perf_counter() - start < seconds:
        _, states = hopsy.sample(chain, rng, n_samples=chunk, thinning=thin)
        chunks.append(states[0])
    elapsed = time.perf_counter() - start
    traces = np.concatenate(chunks)[None]
    out = _summary(poly, traces, thin * traces.shape[1], elapsed, 1.0)
    out["chains"] = 1
    return out


def run(args: argparse.Namespace) -> int:
    """Run every sampler on every case, print the table, optionally write JSON."""
    _import_hopsy()
    jobs: list[tuple[str, str, Callable[[], dict]]] = []
    for case, m in CASES.items():
        poly = make_case(m)
        for method in METHODS:
            jobs.append((method, case, lambda p=poly, k=method: run_ours(p, k, args.seconds)))
            jobs.append(
                (HOPSY_NAMES[method], case, lambda p=poly, k=method: run_hopsy(p, k, args.seconds))
            )
    results: dict = {}
    for name, case, job in tqdm(jobs, desc="bench sampler", file=sys.stderr):
        results.setdefault(name, {})[case] = job()
    ratios: dict = {}
    for method, hopsy_name in HOPSY_NAMES.items():
        for case in CASES:
            ours, theirs = results[method][case], results[hopsy_name][case]
            ratios.setdefault(f"{method}/{hopsy_name}", {})[case] = {
                "steps_per_s": ours["steps_per_s"] / theirs["steps_per_s"],
                "ess_per_s": ours["ess_per_s"] / theirs["ess_per_s"],
            }
    results["ratios"] = ratios
    results["ess_statistic"] = "minimum over coordinates (ess_median_per_s: median)"
    _print_table(results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


def _print_table(results: dict) -> None:
    """Human-readable table with the ours/hopsy ratios."""
    print(
        f"{'sampler':32s} {'case':8s} {'steps/s':>12s} {'ESS/s(min)':>11s} "
        f"{'ESS/s(med)':>11s} {'infeas':>6s}"
    )
    for name in ("hit_and_run", "hopsy_hit_and_run", "gibbs", "hopsy_coordinate_hit_and_run"):
        for case, r in results[name].items():
            print(
                f"{name:32s} {case:8s} {r['steps_per_s']:12.3g} {r['ess_per_s']:11.4g} "
                f"{r['ess_median_per_s']:11.4g} {r['infeasible']:6d}"
            )
    print()
    for pair, by_case in results["ratios"].items():
        for case, r in by_case.items():
            print(
                f"{pair:46s} {case:8s} steps/s x{r['steps_per_s']:.2f}  "
                f"ESS/s x{r['ess_per_s']:.2f}"
            )
