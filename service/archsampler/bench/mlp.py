"""`archsampler bench mlp`: the overview paper's MLPNAS experiment with real training.

Every strategy searches the `mlp` space (1..10 layers of width 8..512 and sigmoid / tanh
/ relu / elu, optional dropout 0.2) on scikit-learn's digits: each trial trains the MLP
with torch for `--epochs` epochs (paper: 10) and reports its validation accuracy (see
`mlp_train` for the split and the recipe). One run = one (strategy, seed): a sequential
propose / train / report loop of `--budget` distinct architectures; the training seed is
the run's seed, so equal architectures in one seed train identically and a cache keyed by
(architecture hash, seed, epochs) is shared by every strategy (`--cache` keeps it in a
SQLite file across processes and reruns; results do not depend on it).

Reported per strategy (median and quartiles over seeds): the best validation accuracy,
the test accuracy of that best network, and the evaluations until a network reached
`--target` validation accuracy (never = budget + 1). Side by side: scikit-learn's
`MLPClassifier` with its defaults on the same split (measured, one fit per seed), and the
paper's MLPNAS figures (quoted, not measured: they are on MNIST with another recipe).
`tpe` is Optuna's multivariate TPE over the space's params (define-by-run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from archsampler.bench.mlp_train import BATCH
from archsampler.bench.mlp_train import LR
from archsampler.bench.mlp_train import SPLIT_SEED
from archsampler.bench.mlp_train import Evaluator
from archsampler.bench.mlp_train import load_digits_split
from archsampler.bench.mlp_train import sklearn_baseline
from archsampler.bench.plot import plot_quartiles
from archsampler.bench.search import check_strategies
from archsampler.bench.search import parse_strategy_options
from archsampler.bench.search_runner import Searcher
from archsampler.bench.search_runner import distinct_asks
from archsampler.bench.search_runner import make_searcher
from archsampler.bench.search_runner import quartiles
from archsampler.bench.tpe import TPESearcher
from archsampler.bench.tpe import _optuna
from archsampler.spaces.mlp import ACTIVATIONS
from archsampler.spaces.mlp import DROPOUTS
from archsampler.spaces.mlp import MAX_LAYERS
from archsampler.spaces.mlp import WIDTHS
from archsampler.spaces.mlp import MLPSpace

PAPER = {
    "source": "nas-overview-mlp-controller.txt, section 5, Tables 1-4 (MNIST Digits)",
    "best_valid": {"table1": 0.72, "table2": 0.74, "table3": 0.77, "table4": 0.96},
    "test": {"table1": 0.72, "table2": 0.86, "table3": 0.84},
    "architectures": {"tables1-3": 100, "table4": 450},
    "sklearn_test": {"table1": 0.93, "table2": 0.91, "table3": 0.92, "table4": 0.92},
    "note": "validation after 10 epochs; test after 50 more epochs of the best network",
}
MAX_BUDGET = 10_000
MAX_SEEDS = 1_000
MAX_EPOCHS = 1_000


def default_strategies() -> str:
    """Every registered strategy, then Optuna's TPE."""
    from archsampler.strategies import STRATEGIES

    return ",".join([*STRATEGIES, "tpe"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `bench mlp` options."""
    parser.add_argument(
        "--strategies", default=None, help="comma-separated (default: all registered + tpe)"
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per strategy")
    parser.add_argument("--budget", type=int, default=100, help="trainings per run")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per trial")
    parser.add_argument("--target", type=float, default=0.97, help="validation accuracy goal")
    parser.add_argument("--workers", type=int, default=1, help="processes (1 = in process)")
    parser.add_argument(
        "--strategy-options",
        action="append",
        default=[],
        metavar="NAME:JSON",
        help='options of one strategy, e.g. evolution:{"population": 20} (repeatable)',
    )
    parser.add_argument("--cache", type=Path, help="SQLite file caching trainings across runs")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="PNG of best-so-far validation accuracy")


class MLPTPESearcher(TPESearcher):
    """Optuna's multivariate TPE over the mlp params, asked define-by-run: `layers`, then
    `width_i` / `activation_i` / `dropout_i` of the active layers only (`group=True`)."""

    def __init__(self, space: MLPSpace, *, seed: int = 0, **options: Any) -> None:
        optuna = _optuna()
        self.space = space
        self.params = None
        options.setdefault("group", True)
        sampler = optuna.samplers.TPESampler(multivariate=True, seed=seed, **options)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self._fail = optuna.trial.TrialState.FAIL
        self.cache: dict[str, float | None] = {}
        self.repeats = 0
        self._open: Any = None

    def _suggest(self, trial: Any) -> dict[str, Any]:
        depth = trial.suggest_int("layers", 1, MAX_LAYERS)
        values: dict[str, Any] = {"layers": depth}
        for i in range(1, depth + 1):
            values[f"width_{i}"] = trial.suggest_categorical(f"width_{i}", WIDTHS)
            values[f"activation_{i}"] = trial.suggest_categorical(f"activation_{i}", ACTIVATIONS)
            values[f"dropout_{i}"] = trial.suggest_categorical(f"dropout_{i}", DROPOUTS)
        return values


def searcher_for(name: str, seed: int, options: dict[str, Any] | None) -> Searcher:
    space = MLPSpace()
    if name == "tpe":
        return MLPTPESearcher(space, seed=seed, **(options or {}))
    return make_searcher(name, space, seed, options)


Trace = list[tuple[str, float, float]]
"""One run: (architecture string, validation accuracy, test accuracy) per evaluation."""


def run_one(
    name: str,
    seed: int,
    budget: int,
    evaluator: Evaluator,
    options: dict[str, Any] | None = None,
    tick: Any = None,
    out: Trace | None = None,
) -> Trace:
    """One search: propose, train, report until `budget` distinct architectures.

    Evaluations are appended to `out` (a new list by default) as they finish.

    Raises:
        RuntimeError: the strategy proposed an architecture it had already evaluated.
    """
    space = evaluator.space
    searcher = searcher_for(name, seed, options)
    trace: Trace = [] if out is None else out
    for arch in distinct_asks(searcher, space, budget - len(trace), name, seed):
        valid, test, _ = evaluator(arch, seed)
        searcher.tell(arch, valid)
        trace.append((space.to_string(arch), valid, test))
        if tick is not None:
            tick()
    return trace


def best_so_far(trace: Trace, budget: int) -> np.ndarray:
    """Best validation accuracy after 1..budget evaluations (a short run carries on)."""
    valid = np.array([v for _, v, _ in trace] or [0.0])
    curve = np.maximum.accumulate(valid)
    return np.concatenate([curve, np.full(max(0, budget - len(curve)), curve[-1])])[:budget]


def summarize(traces: list[Trace], budget: int, target: float) -> dict[str, Any]:
    """Per-strategy metrics from its traces (one per seed).

    best_valid: the best validation accuracy; best_test: the test accuracy of the first
    network with that validation accuracy; to_target: 1-based evaluation of the first
    network with validation >= target (budget + 1 when never).
    """
    best_valid, best_test, to_target = [], [], []
    for trace in (t for t in traces if t):  # a run that failed at once has no trace
        valid = [v for _, v, _ in trace]
        i = int(np.argmax(valid))
        best_valid.append(valid[i])
        best_test.append(trace[i][2])
        hits = [k + 1 for k, v in enumerate(valid) if v >= target]
        to_target.append(hits[0] if hits else budget + 1)
    return {
        "best_valid": quartiles(np.array(best_valid)),
        "best_test": quartiles(np.array(best_test)),
        "to_target": quartiles(np.array(to_target)),
        "reached": float(np.mean(np.array(to_target) <= budget)),
        "evaluations": int(sum(len(t) for t in traces)),
    }


# -- parallel runs ------------------------------------------------------------------------
_evaluator: Evaluator | None = None
_ticks: Any = None


def _init_worker(epochs: int, cache: str | None, ticks: Any) -> None:
    global _evaluator, _ticks
    _evaluator = Evaluator(load_digits_split(), epochs, Path(cache) if cache else None)
    _ticks = ticks


Task = tuple[str, int, int, dict[str, Any] | None]


def _run_task(task: Task) -> tuple[str, int, Trace, dict[str, Any]]:
    name, seed, budget, opts = task
    assert _evaluator is not None
    return name, seed, *_guarded(name, seed, budget, _evaluator, opts, lambda: _ticks.put(1))


def _guarded(
    name: str,
    seed: int,
    budget: int,
    evaluator: Evaluator,
    options: dict[str, Any] | None,
    tick: Any,
) -> tuple[Trace, dict[str, Any]]:
    """`run_one` with its training stats; a run that raises keeps its trace so far and
    records the error (`stats["error"]`) instead of ending the whole benchmark."""
    before = evaluator.stats()
    trace: Trace = []
    error = None
    try:
        trace = run_one(name, seed, budget, evaluator, options, tick=tick, out=trace)
    except Exception as exc:  # noqa: BLE001 - reported per run, the others go on
        error = f"{type(exc).__name__}: {exc}"
    after = evaluator.stats()
    stats: dict[str, Any] = {k: after[k] - before[k] for k in after}
    if error:
        stats["error"] = error
    return trace, stats


def run_all(
    strategies: list[str],
    seeds: int,
    budget: int,
    epochs: int,
    *,
    workers: int = 1,
    options: dict[str, dict[str, Any]] | None = None,
    cache: Path | None = None,
    progress: bool = True,
) -> tuple[dict[str, list[Trace]], dict[str, list[dict]]]:
    """Every (strategy, seed) run, strategy-major (every seed of the first strategy
    first, so a stopped run has whole strategies); returns the traces and the training
    stats by strategy, in seed order. Workers share trainings through `cache` only (the
    SQLite file); without it each worker process has its own in-memory cache."""
    options = options or {}
    tasks = [(n, s, budget, options.get(n)) for n in strategies for s in range(seeds)]
    found: dict[str, dict[int, tuple[Trace, dict]]] = {n: {} for n in strategies}
    bar = tqdm(total=len(tasks) * budget, desc="mlp trials", file=sys.stderr, disable=not progress)
    if workers <= 1:
        evaluator = Evaluator(load_digits_split(), epochs, cache)
        for name, seed, b, opts in tasks:
            trace, run_stats = _guarded(name, seed, b, evaluator, opts, bar.update)
            found[name][seed] = (trace, run_stats)
            bar.update(budget - len(trace))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager:
            ticks = manager.Queue()
            init = (epochs, str(cache) if cache else None, ticks)
            with ctx.Pool(workers, initializer=_init_worker, initargs=init) as pool:
                pending = [pool.apply_async(_run_task, (t,)) for t in tasks]
                while pending:
                    _drain(ticks, bar, timeout=0.5)
                    for job in [j for j in pending if j.ready()]:
                        name, seed, trace, stats = job.get()
                        found[name][seed] = (trace, stats)
                        bar.update(budget - len(trace))
                        pending.remove(job)
                _drain(ticks, bar, timeout=0.0)
    bar.close()
    traces = {n: [found[n][s][0] for s in range(seeds)] for n in strategies}
    stats = {n: [found[n][s][1] for s in range(seeds)] for n in strategies}
    return traces, stats


def _drain(ticks: Any, bar: Any, timeout: float) -> None:
    import queue

    try:
        bar.update(ticks.get(timeout=timeout) if timeout else ticks.get_nowait())
        while True:
            bar.update(ticks.get_nowait())
    except queue.Empty:
        pass


# -- report -------------------------------------------------------------------------------
def format_table(results: dict[str, Any], sklearn: dict[str, Any], target: float) -> str:
    def iqr(d: dict[str, float], fmt: str) -> str:
        return f"{d['median']:{fmt}} [{d['q1']:{fmt}}, {d['q3']:{fmt}}]"

    head = [
        "strategy",
        "best valid: median [q1, q3]",
        "test of best",
        f"evals to valid >= {target:g}",
        "reached",
    ]
    rows = [head]
    for name, r in results.items():
        failed = len(r.get("errors", []))
        rows.append(
            [
                f"{name} ({failed} runs failed)" if failed else name,
                iqr(r["best_valid"], ".4f"),
                f"{r['best_test']['median']:.4f}",
                iqr(r["to_target"], "g"),
                f"{round(100 * r['reached'])}%",
            ]
        )
    rows.append(
        [
            "sklearn MLPClassifier (defaults)",
            iqr(sklearn["valid"], ".4f"),
            f"{sklearn['test']['median']:.4f}",
            "-",
            "-",
        ]
    )
    p = PAPER
    rows.append(
        [
            "MLPNAS (paper, MNIST, quoted)",
            f"{min(p['best_valid'].values()):.2f}-{max(p['best_valid'].values()):.2f}",
            f"{min(p['test'].values()):.2f}-{max(p['test'].values()):.2f}",
            "-",
            "-",
        ]
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_curves(curves: dict[str, np.ndarray], path: Path, target: float, title: str) -> None:
    """PNG: per strategy the median best-so-far validation accuracy and its quartile band."""
    low = min(float(np.min(c[:, -1])) for c in curves.values())
    plot_quartiles(
        curves,
        path,
        title=title,
        xlabel="trainings",
        ylabel="best validation accuracy (median, quartile band)",
        xlog=False,
        band_alpha=0.15,
        target=target,
        ylim=(max(0.0, low - 0.05), 1.0),
        grid_both=False,
        legend_size=8,
    )


def _check(args: argparse.Namespace, strategies: list[str]) -> str | None:
    for key, high in (("seeds", MAX_SEEDS), ("budget", MAX_BUDGET), ("epochs", MAX_EPOCHS)):
        value = getattr(args, key)
        if not 1 <= value <= high:
            return f"--{key} must be in 1..{high:,}, got {value}"
    if not 0 < args.target <= 1:
        return f"--target must be in (0, 1], got {args.target}"
    if not strategies:
        return "--strategies is empty"
    if args.workers < 1:
        return f"--workers must be >= 1, got {args.workers}"
    return None


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table, write `--json` / `--plot` when asked."""
    text = args.strategies if args.strategies is not None else default_strategies()
    strategies = [s.strip() for s in text.split(",") if s.strip()]
    problem = _check(args, strategies)
    if problem:
        print(f"bench mlp: {problem}", file=sys.stderr)
        return 2
    try:
        check_strategies(strategies)
        options = parse_strategy_options(args.strategy_options)
        traces, stats = run_all(
            strategies,
            args.seeds,
            args.budget,
            args.epochs,
            workers=args.workers,
            options=options,
            cache=args.cache,
        )
    except (ValueError, RuntimeError) as exc:
        print(f"bench mlp: {exc}", file=sys.stderr)
        return 2
    data = load_digits_split()
    baseline = [sklearn_baseline(data, seed) for seed in range(args.seeds)]
    sklearn = {
        "valid": quartiles(np.array([v for v, _ in baseline])),
        "test": quartiles(np.array([t for _, t in baseline])),
        "per_seed": [{"seed": s, "valid": v, "test": t} for s, (v, t) in enumerate(baseline)],
    }
    results = {n: summarize(traces[n], args.budget, args.target) for n in strategies}
    for n in strategies:
        errors = [f"seed {s}: {st['error']}" for s, st in enumerate(stats[n]) if "error" in st]
        results[n]["errors"] = errors
        for line in errors:
            print(f"bench mlp: {n} {line}", file=sys.stderr)
    print(format_table(results, sklearn, args.target))
    config = {
        "space": "mlp",
        "dataset": "sklearn digits",
        "split": {
            "seed": SPLIT_SEED,
            "train": len(data.y_train),
            "valid": len(data.y_valid),
            "test": len(data.y_test),
        },
        "training": {"epochs": args.epochs, "batch": BATCH, "lr": LR, "optimizer": "adam"},
        "strategies": strategies,
        "seeds": args.seeds,
        "budget": args.budget,
        "target": args.target,
        "strategy_options": options,
    }
    if args.json:
        runs = {
            n: [
                {
                    "seed": s,
                    "trace": [{"arch": a, "valid": v, "test": t} for a, v, t in traces[n][s]],
                    "trainings": stats[n][s],
                }
                for s in range(args.seeds)
            ]
            for n in strategies
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "config": config,
                    "strategies": results,
                    "sklearn": sklearn,
                    "paper": PAPER,
                    "runs": runs,
                },
                indent=1,
            )
        )
    if args.plot:
        curves = {
            n: np.stack([best_so_far(t, args.budget) for t in traces[n]]) for n in strategies
        }
        plot_curves(curves, args.plot, args.target, "mlp on digits: best validation accuracy")
    return 0
