"""`archsampler bench optuna`: what `ArchSamplerSampler` adds per trial over Optuna's own.

Three Optuna studies on ONE Optuna storage (in memory, or `--storage URL`) run the same
objective — ten `suggest_*` calls over the latency bench's user space (6 categoricals,
3 ints, 1 log-float) and a sum, so nearly all of a trial's time is sampler and storage
overhead:

- `optuna-random`: Optuna's `RandomSampler`;
- `archsampler`: `ArchSamplerSampler(strategy="random", search_space=...)`, each trial one
  Propose, one system attr and one Report;
- `archsampler-dbr`: the same without `search_space` (define-by-run: the space is read
  from the study's trials every trial).

They run in alternating blocks of `--block` trials after one warm-up block each, so a busy
host slows all alike. The server is a `ServerThread` on loopback in this process (its CPU
time counts, as an in-process Engine's would) or `--target host:port`. Per-trial times are
the gaps between Optuna's trial callbacks; the overhead is the difference of the means.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from archsampler.bench.latency import LATENCY_USER_SPACE

ROWS = ("optuna-random", "archsampler", "archsampler-dbr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `bench optuna` options."""
    parser.add_argument("--trials", type=int, default=300, help="timed trials per sampler")
    parser.add_argument("--block", type=int, default=25, help="trials per alternating block")
    parser.add_argument("--storage", default=None, help="Optuna storage URL (default memory)")
    parser.add_argument("--target", default=None, help="server host:port (default: a thread)")
    parser.add_argument("--strategy", default="random", help="archsampler strategy")
    parser.add_argument("--json", type=Path, help="write the results here")


def optuna_space() -> dict[str, Any]:
    """The latency bench's user space as Optuna distributions."""
    from optuna.distributions import CategoricalDistribution
    from optuna.distributions import FloatDistribution
    from optuna.distributions import IntDistribution

    out: dict[str, Any] = {}
    for p in LATENCY_USER_SPACE["params"]:
        if p["type"] == "categorical":
            out[p["name"]] = CategoricalDistribution(p["choices"])
        elif p["type"] == "int":
            out[p["name"]] = IntDistribution(p["low"], p["high"])
        else:
            out[p["name"]] = FloatDistribution(p["low"], p["high"], log=p.get("log", False))
    return out


def objective(trial: Any) -> float:
    """Ten suggestions and a sum: a trial that costs next to nothing itself."""
    total = 0.0
    for i in range(6):
        total += len(trial.suggest_categorical(f"op{i}", ["a", "b", "c", "d", "e"]))
    for i in range(3):
        total += trial.suggest_int(f"n{i}", 1, 16)
    return total + trial.suggest_float("lr", 1e-4, 1e-1, log=True)


def measure(
    target: str, trials: int, block: int, storage_url: str | None, strategy: str
) -> dict[str, dict[str, float]]:
    """Per-trial milliseconds of each row, timed in alternating blocks."""
    import optuna

    from archsampler_client import Client
    from archsampler_client.integrations.optuna import ArchSamplerSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.get_storage(storage_url)
    client = Client(target)
    stamp = str(int(time.time() * 1000))
    samplers = {
        "optuna-random": optuna.samplers.RandomSampler(seed=0),
        "archsampler": ArchSamplerSampler(
            client, study=f"bench-{stamp}", strategy=strategy, search_space=optuna_space()
        ),
        "archsampler-dbr": ArchSamplerSampler(client, study=f"dbr-{stamp}", strategy=strategy),
    }
    studies = {
        row: optuna.create_study(storage=storage, sampler=s, study_name=f"{row}-{stamp}")
        for row, s in samplers.items()
    }
    times: dict[str, list[float]] = {row: [] for row in ROWS}

    def run_block(row: str, n: int, keep: bool) -> None:
        stamps = [time.perf_counter()]
        studies[row].optimize(
            objective, n_trials=n, callbacks=[lambda s, t: stamps.append(time.perf_counter())]
        )
        if keep:
            times[row].extend(np.diff(stamps).tolist())

    for row in ROWS:
        run_block(row, block, keep=False)  # connect, create the study, learn the space
    done = 0
    while done < trials:
        n = min(block, trials - done)
        for row in ROWS:
            run_block(row, n, keep=True)
        done += n
    client.close()
    out = {}
    for row in ROWS:
        ms = np.asarray(times[row]) * 1000.0
        out[row] = {
            "mean": float(ms.mean()),
            "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)),
        }
    return out


def run(args: argparse.Namespace) -> int:
    """Measure, print a table with the overhead over RandomSampler, write `--json`."""
    if args.trials < 1 or args.block < 1:
        print("bench optuna: --trials and --block must be >= 1", file=sys.stderr)
        return 2
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("bench optuna: needs optuna (pip install 'archsampler-client[optuna]')")
        return 2
    if args.target:
        results = measure(args.target, args.trials, args.block, args.storage, args.strategy)
    else:
        from archsampler.testing import ServerThread

        with tempfile.TemporaryDirectory() as tmp:
            with ServerThread(Path(tmp) / "bench.db") as server:
                results = measure(
                    server.target, args.trials, args.block, args.storage, args.strategy
                )
    base = results["optuna-random"]["mean"]
    print(f"per-trial time (ms), {args.trials} trials each, storage {args.storage or 'memory'}")
    print(f"{'sampler':>16}  {'mean':>7}  {'p50':>7}  {'p99':>7}  {'overhead':>8}")
    for row, r in results.items():
        extra = r["mean"] - base
        print(f"{row:>16}  {r['mean']:7.2f}  {r['p50']:7.2f}  {r['p99']:7.2f}  {extra:+8.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0
