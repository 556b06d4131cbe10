"""`archsampler bench optuna`: what the Optuna sampler and the Ray searcher add per call.

**Optuna.** Optuna studies on ONE Optuna storage (in memory, or `--storage URL`) run the
same objective — ten `suggest_*` calls over the latency bench's user space (6 categoricals,
3 ints, 1 log-float) and a sum, so nearly all of a trial's time is sampler and storage
overhead:

- `optuna-random`: Optuna's `RandomSampler`;
- `engine`: `ArchSamplerSampler(Engine(...), strategy=..., search_space=...)` on an
  in-process `Engine` (a fresh SQLite file): each trial one Propose, one system attr and one
  Report, each committed;
- `engine-dbr`: the same without `search_space` (define-by-run: the space is read from the
  study's trials every trial);
- `engine-normal`: as `engine`, with `sqlite_synchronous="normal"` (commits synced at WAL
  checkpoints only: safe when the process dies, not on power failure);
- `engine-tmpfs`: as `engine`, the Engine's SQLite file in `/dev/shm` (Linux; the row is
  left out elsewhere): the same code without the disk's fsync, so the table shows what the
  two commits of a trial (Propose, Report; SQLite `synchronous=FULL`) cost on this disk;
- `server`: as `engine`, through a `Client` to a server (a `ServerThread` on loopback in
  this process, or `--target host:port`; `--no-server` leaves the row out).

They run in alternating blocks of `--block` trials after one warm-up block each, so a busy
host slows all alike. Every trial is a sample: the gap between Optuna's trial callbacks.
"Added" is a row's statistic minus `optuna-random`'s (the samples are not paired); "added
cpu" is the process CPU time per trial (every thread) minus `optuna-random`'s, a figure a
busy host inflates much less than wall time.

**Ray Tune.** `ArchSamplerSearch(Engine(...))` on the same space as Tune domains, driven as
Tune's controller drives it (`set_search_properties`, then per trial `suggest`,
`on_trial_result`, `on_trial_complete`) without a Ray runtime: every `suggest` (a committed
Propose) and every `on_trial_complete` (a committed Report) is timed, on the disk Engine and
on the tmpfs one.

Goals (issue 12): the Optuna sampler on an Engine with `random` adds <= 2 ms per trial over
`RandomSampler` on the same storage; a `suggest` on an Engine takes <= 5 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from archsampler.bench.latency import LATENCY_USER_SPACE

ROWS = ("optuna-random", "engine", "engine-dbr", "engine-normal", "engine-tmpfs", "server")
TMPFS = Path("/dev/shm")
RAY_CALLS = ("suggest", "on_trial_complete")
OPTUNA_GOAL_MS = 2.0  # added per trial by the sampler on an Engine (mean)
RAY_GOAL_MS = 5.0  # per suggest on an Engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `bench optuna` options."""
    parser.add_argument("--trials", type=int, default=300, help="timed trials per sampler")
    parser.add_argument("--block", type=int, default=25, help="trials per alternating block")
    parser.add_argument("--suggests", type=int, default=300, help="timed Ray suggest calls")
    parser.add_argument("--storage", default=None, help="Optuna storage URL (default memory)")
    parser.add_argument("--target", default=None, help="server host:port (default: a thread)")
    parser.add_argument("--no-server", action="store_true", help="leave out the server row")
    parser.add_argument("--strategy", default="random", help="archsampler strategy")
    parser.add_argument("--json", type=Path, help="write the results here")


def stats(ms: list[float]) -> dict[str, float]:
    """n, mean, p50, p99, p99.9 and max of samples in milliseconds."""
    a = np.asarray(ms, dtype=float)
    return {
        "n": int(a.size),
        "mean": float(a.mean()),
        "p50": float(np.percentile(a, 50)),
        "p99": float(np.percentile(a, 99)),
        "p99.9": float(np.percentile(a, 99.9)),
        "max": float(a.max()),
    }


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


def tune_space() -> dict[str, Any]:
    """The latency bench's user space as Ray Tune domains."""
    from ray import tune

    out: dict[str, Any] = {}
    for p in LATENCY_USER_SPACE["params"]:
        if p["type"] == "categorical":
            out[p["name"]] = tune.choice(p["choices"])
        elif p["type"] == "int":
            out[p["name"]] = tune.randint(p["low"], p["high"] + 1)
        else:
            out[p["name"]] = tune.loguniform(p["low"], p["high"])
    return out


def objective(trial: Any) -> float:
    """Ten suggestions and a sum: a trial that costs next to nothing itself."""
    total = 0.0
    for i in range(6):
        total += len(trial.suggest_categorical(f"op{i}", ["a", "b", "c", "d", "e"]))
    for i in range(3):
        total += trial.suggest_int(f"n{i}", 1, 16)
    return total + trial.suggest_float("lr", 1e-4, 1e-1, log=True)


def measure_optuna(
    apis: dict[str, Any], trials: int, block: int, storage_url: str | None, strategy: str
) -> dict[str, list[float]]:
    """Each row's per-trial milliseconds (`ms`, every trial) and the process's CPU
    milliseconds per trial (`cpu_ms`: all threads, the server thread's included), timed
    in alternating blocks (`apis`: row -> Engine or Client)."""
    import optuna

    from archsampler_client.integrations.optuna import ArchSamplerSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.get_storage(storage_url)
    stamp = str(int(time.time() * 1000))
    samplers: dict[str, Any] = {"optuna-random": optuna.samplers.RandomSampler(seed=0)}
    for row, api in apis.items():
        given = {} if row.endswith("dbr") else {"search_space": optuna_space()}
        samplers[row] = ArchSamplerSampler(api, study=f"{row}-{stamp}", strategy=strategy, **given)
    studies = {
        row: optuna.create_study(storage=storage, sampler=s, study_name=f"{row}-{stamp}")
        for row, s in samplers.items()
    }
    times: dict[str, list[float]] = {row: [] for row in samplers}
    cpu = dict.fromkeys(samplers, 0.0)

    def run_block(row: str, n: int, keep: bool) -> None:
        stamps = [time.perf_counter()]
        cpu_start = time.process_time()
        studies[row].optimize(
            objective, n_trials=n, callbacks=[lambda s, t: stamps.append(time.perf_counter())]
        )
        if keep:
            times[row].extend((np.diff(stamps) * 1000.0).tolist())
            cpu[row] += (time.process_time() - cpu_start) * 1000.0

    for row in samplers:
        run_block(row, block, keep=False)  # create the study, learn the space, warm caches
    done = 0
    with tqdm(total=trials * len(samplers), desc="optuna trials", file=sys.stderr) as bar:
        while done < trials:
            n = min(block, trials - done)
            for row in samplers:
                run_block(row, n, keep=True)
                bar.update(n)
            done += n
    return {row: {"ms": times[row], "cpu_ms": cpu[row] / trials} for row in samplers}


def measure_ray(engines: dict[str, Any], suggests: int, strategy: str) -> dict[str, Any]:
    """`{row: {call: ms samples}}`: every `suggest` and `on_trial_complete` of a searcher on
    each Engine, the Engines taking turns call by call."""
    runs = {row: _RayRun(engine, strategy) for row, engine in engines.items()}
    for i in tqdm(range(suggests), desc="ray suggests", file=sys.stderr):
        for run in runs.values():
            run.step(f"t{i}")
    return {row: run.times for row, run in runs.items()}


class _RayRun:
    """One searcher on one Engine, warmed up; `step` times one trial's calls."""

    def __init__(self, engine: Any, strategy: str) -> None:
        from archsampler_client.integrations.ray import ArchSamplerSearch

        self.searcher = ArchSamplerSearch(engine, study=f"ray-{time.time_ns()}", strategy=strategy)
        self.searcher.set_search_properties("loss", "min", tune_space())
        for i in range(10):  # warm-up: the study is created, caches filled
            self.searcher.suggest(f"warm{i}")
            self.searcher.on_trial_complete(f"warm{i}", error=True)
        self.times: dict[str, list[float]] = {call: [] for call in RAY_CALLS}

    def step(self, trial_id: str) -> None:
        start = time.perf_counter()
        config = self.searcher.suggest(trial_id)
        self.times["suggest"].append((time.perf_counter() - start) * 1000.0)
        result = {"loss": float(config["n0"]), "training_iteration": 1}
        self.searcher.on_trial_result(trial_id, result)
        start = time.perf_counter()
        self.searcher.on_trial_complete(trial_id, result)
        self.times["on_trial_complete"].append((time.perf_counter() - start) * 1000.0)


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Both parts in one run: `{"optuna": {row: stats}, "ray": {call: stats} | None}`."""
    from archsampler import Engine
    from archsampler_client import Client

    with ExitStack() as stack:
        engine = stack.enter_context(Engine(tmp / "engine.db", model_min_trials=1_000_000))
        apis: dict[str, Any] = {"engine": engine, "engine-dbr": engine}
        apis["engine-normal"] = stack.enter_context(
            Engine(tmp / "normal.db", model_min_trials=1_000_000, sqlite_synchronous="normal")
        )
        engines = {"engine": engine}
        if TMPFS.is_dir():
            shm = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=TMPFS)))
            engines["engine-tmpfs"] = apis["engine-tmpfs"] = stack.enter_context(
                Engine(shm / "engine.db", model_min_trials=1_000_000)
            )
        if not args.no_server:
            target = args.target
            if target is None:
                from archsampler.testing import ServerThread

                server = stack.enter_context(
                    ServerThread(tmp / "server.db", model_min_trials=1_000_000)
                )
                target = server.target
            apis["server"] = stack.enter_context(Client(target))
        optuna_ms = measure_optuna(apis, args.trials, args.block, args.storage, args.strategy)
        try:
            import ray  # noqa: F401
        except ImportError:
            print("bench optuna: no ray (pip install 'archsampler-client[ray]'): Ray part skipped")
            ray_ms = None
        else:
            ray_ms = measure_ray(engines, args.suggests, args.strategy)
    ray = None
    if ray_ms is not None:
        ray = {row: {c: stats(ms) for c, ms in calls.items()} for row, calls in ray_ms.items()}
    optuna = {row: {**stats(r["ms"]), "cpu": r["cpu_ms"]} for row, r in optuna_ms.items()}
    return {"optuna": optuna, "ray": ray}


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the Optuna table (with what each row adds), the Ray table and the goals."""
    optuna_rows = results["optuna"]
    base = optuna_rows["optuna-random"]
    print(
        f"Optuna: ms per trial, {args.trials} trials per row (every one a sample), "
        f"Optuna storage {args.storage or 'memory'}, archsampler strategy {args.strategy}"
    )
    head = ("row", "mean", "p50", "p99", "p99.9", "max", "added mean", "added p50", "added cpu")
    print(f"{head[0]:>14}" + "".join(f"{h:>11}" for h in head[1:]) + "     × mean")
    for row, r in optuna_rows.items():
        added = (r["mean"] - base["mean"], r["p50"] - base["p50"], r["cpu"] - base["cpu"])
        cells = [r["mean"], r["p50"], r["p99"], r["p99.9"], r["max"], *added]
        ratio = r["mean"] / base["mean"]
        print(f"{row:>14}" + "".join(f"{c:11.2f}" for c in cells) + f"{ratio:10.2f}×")
    for row in ("engine", "engine-normal", "engine-tmpfs"):
        if row not in optuna_rows:
            continue
        added = {k: optuna_rows[row][k] - base[k] for k in ("mean", "p50", "cpu")}
        verdicts = ", ".join(
            f"{k} {v:+.2f} ms ({'met' if v <= OPTUNA_GOAL_MS else 'NOT met'})"
            for k, v in added.items()
        )
        print(f"goal: the sampler on an Engine ({row}) adds <= {OPTUNA_GOAL_MS} ms per trial: "
              f"{verdicts}")  # fmt: skip
    if results["ray"] is None:
        return
    keys = ("mean", "p50", "p99", "p99.9", "max")
    print(f"\nRay Tune: ArchSamplerSearch on an Engine, ms per call, {args.suggests} calls each")
    print(f"{'engine':>14}{'call':>18}" + "".join(f"{h:>10}" for h in keys))
    for row, calls in results["ray"].items():
        for call, r in calls.items():
            print(f"{row:>14}{call:>18}" + "".join(f"{r[k]:10.2f}" for k in keys))
    s = results["ray"]["engine"]["suggest"]
    verdicts = ", ".join(
        f"{k} {s[k]:.2f} ms ({'met' if s[k] <= RAY_GOAL_MS else 'NOT met'})"
        for k in ("mean", "p50", "p99")
    )
    print(f"goal: a suggest on an Engine takes <= {RAY_GOAL_MS} ms: {verdicts}")


def run(args: argparse.Namespace) -> int:
    """Measure, print both tables with the goals, write `--json`."""
    if args.trials < 1 or args.block < 1 or args.suggests < 1:
        print("bench optuna: --trials, --block and --suggests must be >= 1", file=sys.stderr)
        return 2
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("bench optuna: needs optuna (pip install 'archsampler-client[optuna]')")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args, Path(tmp))
    report(results, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0
