"""`archsampler bench latency`: Propose latency of a strategy with many observed trials.

For each history size N the strategy first observes N distinct random architectures in
one batch (as when a study is restored), then runs `--steps` consecutive
propose(1) + observe(1) steps, so periodic tree relearning is part of what is timed.
Values are synthetic: a fixed random linear function of the space's features plus
Gaussian noise. Every size uses one user space built in code with a feature dimension
like NAS-Bench-201's (6 categoricals x 5 choices, 3 ints, 1 log-float: 34 features,
practically unbounded), so no size is timed against a nearly exhausted space and the
sizes compare like with like. `p50`/`p99` time propose(1); `step` adds observe(1), where
the periodic tree rebuild happens (in the service both run inside one Propose call).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from archsampler.spaces import make_space
from archsampler.spaces.base import SearchSpace
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy

LATENCY_USER_SPACE: dict[str, Any] = {
    "params": [
        *(
            {"name": f"op{i}", "type": "categorical", "choices": ["a", "b", "c", "d", "e"]}
            for i in range(6)
        ),
        *({"name": f"n{i}", "type": "int", "low": 1, "high": 16} for i in range(3)),
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    ]
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `bench latency` options."""
    parser.add_argument("--strategy", default="lanas", help="registry name (default lanas)")
    parser.add_argument("--sizes", default="1000,10000", help="observed-trial counts")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategy-options", default=None, metavar="JSON")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--space",
        choices=["user", "nb201"],
        default="user",
        help="user: 34-feature in-code space (default); nb201: 10,000 of its 15,625 cells seen",
    )


def space_for(name: str) -> SearchSpace:
    """`nb201`, or `user`: the in-code user space (practically unbounded)."""
    return make_space({"builtin": "nb201"} if name == "nb201" else {"user": LATENCY_USER_SPACE})


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50 / p99 / mean / max of durations in seconds, in milliseconds."""
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


def measure(
    strategy_name: str,
    history: int,
    steps: int,
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    space_name: str = "user",
) -> dict[str, Any]:
    """Time `steps` propose(1)/observe(1) steps after `history` observed trials."""
    space = space_for(space_name)
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=space.dim)

    def value(arch: Any) -> float:
        return float(space.encode(arch) @ weights + rng.normal(0.0, 0.1))

    warm, keys = [], set()
    while len(warm) < history:
        arch = space.sample(rng)
        key = space.canonical_hash(arch)
        if key not in keys:
            keys.add(key)
            warm.append(Observation(arch, value(arch)))
    strategy = make_strategy(strategy_name, space, seed=seed, options=options)
    strategy.observe(warm)
    propose_s, step_s = [], []
    for _ in tqdm(range(steps), desc=f"latency@{history}", file=sys.stderr, disable=not progress):
        t0 = time.perf_counter()
        arch = strategy.propose(1, [])[0].arch
        t1 = time.perf_counter()
        strategy.observe([Observation(arch, value(arch))])
        t2 = time.perf_counter()
        propose_s.append(t1 - t0)
        step_s.append(t2 - t0)
    return {
        **percentiles_ms(propose_s),
        "step": percentiles_ms(step_s),
        "space": space.name,
        "steps": steps,
    }


def run(args: argparse.Namespace) -> int:
    """Measure every size; print a table and write `--json` when asked."""
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        options = json.loads(args.strategy_options) if args.strategy_options else None
        if any(s < 0 for s in sizes) or args.steps < 1 or not sizes:
            raise ValueError("--sizes must be non-negative integers and --steps >= 1")
        if options is not None and not isinstance(options, dict):
            raise ValueError("--strategy-options must be a JSON object")
        results = {
            str(n): measure(
                args.strategy,
                n,
                args.steps,
                seed=args.seed,
                options=options,
                space_name=args.space,
            )
            for n in sizes
        }
    except (ValueError, ImportError) as exc:
        print(f"bench latency: {exc}", file=sys.stderr)
        return 2
    print(f"{args.strategy}: propose latency (ms)")
    print(
        f"{'observed':>9}  {'space':>6}  {'p50':>8}  {'p99':>8}  {'step p50':>8}  {'step p99':>8}"
    )
    for n, r in results.items():
        print(
            f"{n:>9}  {r['space']:>6}  {r['p50']:8.2f}  {r['p99']:8.2f}  "
            f"{r['step']['p50']:8.2f}  {r['step']['p99']:8.2f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0
