"""`archsampler bench latency`: Propose latency of a strategy with many observed trials.

For each history size N the strategy first observes N distinct random architectures in
one batch (as when a study is restored), then runs consecutive propose(1) + observe(1)
steps: `--steps`, raised for lanas to cover at least `--rebuilds` tree rebuilds at that
size (the gap between rebuilds grows with N), so periodic relearning is part of what is
timed. Every step is timed; the JSON gives p50 / p99 / p99.9 / max of wall time, the same
of the step's CPU time (`step_cpu`: what the step itself cost, robust on a busy host), how
many rebuilds were put in use during the timed steps, the longest of them (seconds of
work; from `background_from` observations on it is spread in slices over the observe
calls, in line below) and how long swap-point calls spent finishing one.
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

from archsampler.gcpause import freeze_startup_objects
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
    parser.add_argument("--sizes", default="1000,10000,100000", help="observed-trial counts")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per size (minimum)")
    parser.add_argument(
        "--rebuilds", type=int, default=3, help="lanas: time enough steps for this many rebuilds"
    )
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
    """p50 / p99 / p99.9 / mean / max of durations in seconds, in milliseconds."""
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "p99.9": float(np.percentile(ms, 99.9)),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


def steps_for(strategy: Any, history: int, steps: int, rebuilds: int) -> int:
    """`steps`, raised so that a lanas strategy puts at least `rebuilds` new trees in use."""
    if rebuilds <= 0 or not hasattr(strategy, "_relearn_gap"):
        return steps
    point = strategy._built_at  # the last relearn point already scheduled
    for _ in range(rebuilds):
        point += strategy._relearn_gap(point)
    in_use = point + strategy._swap_delay(point)
    return max(steps, in_use - history)


def measure(
    strategy_name: str,
    history: int,
    steps: int,
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    space_name: str = "user",
    rebuilds: int = 0,
) -> dict[str, Any]:
    """Time propose(1)/observe(1) steps after `history` observed trials (see the module)."""
    space = space_for(space_name)
    make_strategy(strategy_name, space, seed=seed, options=options)  # import its modules
    freeze_startup_objects()  # as the server does after start-up
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
    del warm, keys  # the server keeps no Observation objects after a sync either
    steps = steps_for(strategy, history, steps, rebuilds)
    before = dict(getattr(strategy, "rebuild_stats", {}))
    if "max_s" in before:
        strategy.rebuild_stats["max_s"] = 0.0  # the longest rebuild among the timed steps
    propose_s, step_s, cpu_s = [], [], []
    for _ in tqdm(range(steps), desc=f"latency@{history}", file=sys.stderr, disable=not progress):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        arch = strategy.propose(1, [])[0].arch
        t1 = time.perf_counter()
        strategy.observe([Observation(arch, value(arch))])
        t2 = time.perf_counter()
        cpu_s.append(time.thread_time() - c0)
        propose_s.append(t1 - t0)
        step_s.append(t2 - t0)
    out = {
        **percentiles_ms(propose_s),
        "step": percentiles_ms(step_s),
        "step_cpu": percentiles_ms(cpu_s),
        "space": space.name,
        "steps": steps,
    }
    after = getattr(strategy, "rebuild_stats", None)
    if after is not None:
        out["rebuilds"] = {
            "count": int(after["count"] - before["count"]),
            "longest_ms": 1000.0 * after["max_s"],
            "waited_ms": 1000.0 * (after["waited_s"] - before["waited_s"]),
        }
    return out


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
                rebuilds=args.rebuilds,
            )
            for n in sizes
        }
    except (ValueError, ImportError) as exc:
        print(f"bench latency: {exc}", file=sys.stderr)
        return 2
    print(f"{args.strategy}: latency (ms); step = propose(1) + observe(1), rebuilds included")
    cols = ("observed", "steps", "p50", "p99", "step p50", "step p99", "step p99.9", "step max")
    cols += ("cpu max",)
    print("  ".join(f"{c:>10}" for c in (*cols, "rebuilds", "longest", "waited")))
    for n, r in results.items():
        st, rb = r["step"], r.get("rebuilds", {})
        cells = [n, r["steps"], f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{st['p50']:.2f}"]
        cells += [f"{st['p99']:.2f}", f"{st['p99.9']:.2f}", f"{st['max']:.2f}"]
        cells += [f"{r['step_cpu']['max']:.2f}"]
        cells += [rb.get("count", "-"), f"{rb['longest_ms']:.1f}" if rb else "-"]
        cells += [f"{rb['waited_ms']:.1f}" if rb else "-"]
        print("  ".join(f"{c:>10}" for c in cells))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0
