"""`archsampler bench exhaustion`: how fast an exhausted (or nearly exhausted) space answers.

A server runs in a child process. Three studies, all `random`:
  * constrained: int `x` in 0..99 with `x <= 0.5` (one feasible architecture). After the
    one Propose that succeeds, every Propose is RESOURCE_EXHAUSTED; all are timed (the first
    refusal lists the space).
  * nb201: every network but `--left` proposed (pending) in untimed calls; then
    Propose(`--left`) takes exactly the rest (sampling falls short, the listed space gives
    the rest), then every further Propose(1) is RESOURCE_EXHAUSTED and timed.
  * idle: Propose(1) on a fresh NB201 study, the reference.
Every sample is kept; it prints p50 / p99 / p99.9 / max per kind, the ratio of exhausted
to idle p50, and whether the goal (every exhausted answer <= 100 ms) holds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from archsampler.testing import ServerProcess
from archsampler_client import ArchSamplerError
from archsampler_client import Client

CONSTRAINED: dict[str, Any] = {
    "params": [{"name": "x", "type": "int", "low": 0, "high": 99}],
    "constraints": [{"coefficients": {"x": 1.0}, "op": "<=", "bound": 0.5}],
}
NB201_NETWORKS = 6_466
GOAL_MS = 100.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calls", type=int, default=300, help="timed Propose calls per kind")
    p.add_argument("--left", type=int, default=625, help="NB201 networks left unproposed")
    p.add_argument("--json", type=Path, help="write the results here")


def stats_ms(seconds: list[float]) -> dict[str, Any]:
    """n, p50 / p99 / p99.9 / max (ms) of durations in seconds (also `bench warmstart`)."""
    ms = np.array(seconds) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "p99_9_ms": float(np.percentile(ms, 99.9)),
        "max_ms": float(ms.max()),
    }


def _refused(study: Any, calls: int) -> list[float]:
    """Times of `calls` Propose(1) that must all be RESOURCE_EXHAUSTED."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        try:
            study.propose(count=1)
        except ArchSamplerError as e:
            if e.code.name != "RESOURCE_EXHAUSTED":
                raise
        else:
            raise AssertionError("an exhausted space proposed an architecture")
        times.append(time.perf_counter() - start)
    return times


def measure(target: str, calls: int, left: int) -> dict[str, Any]:
    with Client(target) as client:
        idle = client.create_study("idle", space="nb201", strategy="random")
        idle_times = []
        for _ in range(calls):
            start = time.perf_counter()
            idle.propose(count=1)
            idle_times.append(time.perf_counter() - start)
        tight = client.create_study("constrained", space=CONSTRAINED, strategy="random")
        tight.propose(count=1)
        tight_times = _refused(tight, calls)
        full = client.create_study("nb201", space="nb201", strategy="random", seed=7)
        todo = NB201_NETWORKS - left
        while todo:
            todo -= len(full.propose(count=min(1000, todo)))
        start = time.perf_counter()
        got = full.propose(count=left)
        rest_s = time.perf_counter() - start
        if len({t.arch for t in got}) != left:
            raise AssertionError(f"Propose({left}) gave {len(got)} distinct networks")
        nb201_times = _refused(full, calls)
    result = {
        "idle_propose": stats_ms(idle_times),
        "constrained_exhausted": stats_ms(tight_times),
        "constrained_first_refusal_ms": tight_times[0] * 1000.0,
        "nb201_rest_propose_ms": rest_s * 1000.0,
        "nb201_exhausted": stats_ms(nb201_times),
    }
    worst = max(result["constrained_exhausted"]["max_ms"], result["nb201_exhausted"]["max_ms"])
    result["goal_max_ms"] = GOAL_MS
    result["goal_met"] = worst <= GOAL_MS
    for kind in ("constrained_exhausted", "nb201_exhausted"):
        result[f"{kind}_p50_over_idle_p50"] = (
            result[kind]["p50_ms"] / result["idle_propose"]["p50_ms"]
        )
    return result


def _line(name: str, s: dict[str, Any]) -> str:
    return (
        f"{name}: n {s['n']}, p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
        f"p99.9 {s['p99_9_ms']:.2f} ms, max {s['max_ms']:.2f} ms"
    )


def run(args: argparse.Namespace) -> int:
    off = {"ARCHSAMPLER_MODEL_RETRAIN_EVERY": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        with ServerProcess(Path(tmp) / "exhaustion.db", **off) as srv:
            result = measure(srv.target, args.calls, args.left)
    print(_line("Propose(1), fresh NB201 study (reference)", result["idle_propose"]))
    print(_line("Propose(1), exhausted constrained space", result["constrained_exhausted"]))
    print(f"  first refusal (lists the space): {result['constrained_first_refusal_ms']:.1f} ms")
    print(
        f"Propose({args.left}) of the last {args.left} NB201 networks: "
        f"{result['nb201_rest_propose_ms']:.1f} ms"
    )
    print(_line("Propose(1), exhausted NB201", result["nb201_exhausted"]))
    print(
        "exhausted p50 / reference p50: constrained "
        f"{result['constrained_exhausted_p50_over_idle_p50']:.2f}, nb201 "
        f"{result['nb201_exhausted_p50_over_idle_p50']:.2f}; goal max <= {GOAL_MS:.0f} ms: "
        f"{'met' if result['goal_met'] else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="archsampler bench exhaustion", description=__doc__)
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
