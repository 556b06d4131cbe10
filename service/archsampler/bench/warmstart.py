"""`archsampler bench warmstart`: what warm-start hints add to Propose latency.

A server runs in this process (so the hint index can be switched off between calls). Per
case (a categorical user space of `params` × 8 choices; `trials` COMPLETED trials imported
with `tell_many`; strategy `random`, the cheapest, so the hint's share is the largest),
Propose(`count`) is timed in alternating blocks of 25 calls with hints on and off, side by
side in one run; every call is kept. Prints p50 / p99 / p99.9 / max per mode and the
on/off ratios, plus the index build after a restart (the first Propose of a fresh server).
First, the CPU time of the hint computation alone per round (thread CPU time: stable on a
busy host, where wall-clock tails are the host's). NAO training is off (it would compete).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from archsampler.bench.exhaustion import stats_ms as _stats
from archsampler.testing import ServerThread
from archsampler.testing.spaces import categorical_space
from archsampler.warmstart import WarmIndex
from archsampler_client import Client

BLOCK = 25


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trials", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--params", type=int, nargs="+", default=[8, 64], help="decisions per arch")
    p.add_argument("--count", type=int, nargs="+", default=[1, 100], help="Propose(count)")
    p.add_argument("--calls", type=int, default=200, help="timed calls per mode and case")
    p.add_argument("--json", type=Path, help="write the results here")


def _rows(params: int, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` distinct random architectures with values."""
    rng = random.Random(seed)
    seen: set[tuple[int, ...]] = set()
    while len(seen) < n:
        seen.add(tuple(rng.randrange(8) for _ in range(params)))
    return [
        {"arch": {f"p{i}": f"c{c}" for i, c in enumerate(a)}, "value": rng.random()}
        for a in sorted(seen)
    ]


def _case(srv: ServerThread, client: Client, params: int, n: int, args: Any) -> dict[str, Any]:
    name = f"warm-{params}-{n}"
    study = client.create_study(name, space=categorical_space(params, 8), strategy="random")
    rows = _rows(params, n, seed=params * 7919 + n)
    start = time.perf_counter()
    study.tell_many(rows, chunk_rows=1000)
    imported = time.perf_counter() - start
    start = time.perf_counter()
    again = study.tell_many(rows, chunk_rows=1000)
    reimported = time.perf_counter() - start
    assert again.created == 0 and again.unchanged == n
    warm = srv.running.service.committer.lanes.warm  # type: ignore[union-attr]
    limit = warm.limit
    out: dict[str, Any] = {"params": params, "trials": n, "import_s": imported}
    out["reimport_s"] = reimported
    print(
        f"{params:3d} decisions: tell_many of {n} rows {imported:.2f} s "
        f"({n / imported:,.0f} rows/s, validated first), again (all unchanged) "
        f"{reimported:.2f} s",
        flush=True,
    )
    try:
        for count in args.count:
            times: dict[str, list[float]] = {"on": [], "off": []}
            cpu = {"on": 0.0, "off": 0.0}  # process CPU (server + client, this process)
            study.propose(count)  # index built (untimed)
            bar = tqdm(total=2 * args.calls, desc=f"{name} Propose({count})", leave=False)
            while len(times["off"]) < args.calls:
                for mode in ("on", "off"):
                    warm.limit = limit if mode == "on" else 0
                    cpu_start = time.process_time()
                    for _ in range(min(BLOCK, args.calls - len(times[mode]))):
                        start = time.perf_counter()
                        trials = study.propose(count)
                        times[mode].append(time.perf_counter() - start)
                        assert (trials[0].warm_start is not None) == (mode == "on")
                        bar.update()
                    cpu[mode] += time.process_time() - cpu_start
            bar.close()
            on, off = _stats(times["on"]), _stats(times["off"])
            out[f"count_{count}"] = {
                "on": on,
                "off": off,
                "p50_ratio": on["p50_ms"] / off["p50_ms"],
                "p99_ratio": on["p99_ms"] / off["p99_ms"],
                "cpu_per_call_ms": {m: cpu[m] * 1000 / args.calls for m in cpu},
            }
    finally:
        warm.limit = limit
    return out


def _hint_cpu(params: int, n: int, count: int, repeats: int = 5) -> dict[str, float]:
    """CPU time (this thread) of one round's hints: `count` queries against `n` indexed
    trials of `params` decisions (random tokens, 50 distinct values: ties happen)."""
    rng = np.random.default_rng(params * 31 + n)
    index = WarmIndex(0.0, params, max(n, 1))
    for i, row in enumerate(rng.integers(1, 9, (n, params))):
        index.add(i, row, float(rng.integers(50)), ("", "", 0.0))
    queries = rng.integers(1, 9, (count, params)).astype(index.dtype)
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        index.nearest(queries)
        times.append((time.thread_time() - start) * 1000)
    return {"min_ms": min(times), "median_ms": float(np.median(times))}


def run(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {"cases": [], "hint_cpu": []}
    for params in args.params:
        for n in args.trials:
            for count in (*args.count, 1000):
                cpu = _hint_cpu(params, n, count)
                got = {"params": params, "trials": n, "count": count, **cpu}
                results["hint_cpu"].append(got)
                print(
                    f"hint CPU per round: {params:3d} decisions, {n:6d} indexed, "
                    f"Propose({count}): min {got['min_ms']:.2f} ms, median "
                    f"{got['median_ms']:.2f} ms",
                    flush=True,
                )
    with tempfile.TemporaryDirectory(prefix="archsampler-bench-warm-") as tmp:
        db = Path(tmp) / "bench.db"
        quiet = {"model_min_trials": 10**9}  # no NAO training child competing for the CPU
        with ServerThread(db, **quiet) as srv, Client(srv.target, timeout=600) as client:
            for params in args.params:
                for n in args.trials:
                    case = _case(srv, client, params, n, args)
                    results["cases"].append(case)
                    for key, got in case.items():
                        if not key.startswith("count_"):
                            continue
                        on, off = got["on"], got["off"]
                        print(
                            f"{params:3d} decisions, {n:6d} completed, Propose({key[6:]}): "
                            f"hints on p50 {on['p50_ms']:.2f} p99 {on['p99_ms']:.2f} "
                            f"p99.9 {on['p99_9_ms']:.2f} max {on['max_ms']:.2f} ms | off p50 "
                            f"{off['p50_ms']:.2f} p99 {off['p99_ms']:.2f} p99.9 "
                            f"{off['p99_9_ms']:.2f} max {off['max_ms']:.2f} ms | ratio p50 "
                            f"{got['p50_ratio']:.2f} p99 {got['p99_ratio']:.2f} | CPU per call "
                            f"on {got['cpu_per_call_ms']['on']:.2f} off "
                            f"{got['cpu_per_call_ms']['off']:.2f} ms",
                            flush=True,
                        )
        # a fresh server builds each index on its study's first Propose
        with ServerThread(db, **quiet) as srv, Client(srv.target, timeout=600) as client:
            for case in results["cases"]:
                name = f"warm-{case['params']}-{case['trials']}"
                start = time.perf_counter()
                client.study(name).propose(1)
                case["first_propose_after_restart_ms"] = (time.perf_counter() - start) * 1000
                print(
                    f"{case['params']:3d} decisions, {case['trials']:6d} completed: first "
                    "Propose after a restart (replay of every trial, the timed calls' "
                    f"pending ones too, + index build) "
                    f"{case['first_propose_after_restart_ms']:.1f} ms"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0
