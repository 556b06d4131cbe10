"""`archsampler bench search`: strategies against a lookup table, many seeds, in process.

For each (strategy, seed) a sequential loop proposes one architecture, looks its value up
in the table and reports it, until `--budget` evaluations of distinct networks (on NB201
isomorphic cells are one network: an isomorph of an evaluated cell is never counted, and a
strategy proposing one fails). Reported per strategy: evaluations until the table's best
`--metric` network is proposed and until a top-0.1 % cell is (median and quartiles over
seeds; never found = budget + 1), the mean regret on `--report-metric` after
50/100/200/500 evaluations (see `search_runner` and the README in the benchmarks folder),
and for lanas the fraction of the tree's proposals that lie in the leaf UCB selected
(`in_leaf`). `tpe` is Optuna's multivariate TPE (see `archsampler.bench.tpe`);
`lanas@paper` is lanas with the LaNAS paper's settings, `lanas@relabel` the rule that keeps
decoded candidates outside their leaf (see `search_runner.presets`).
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

from archsampler.bench import search_runner
from archsampler.bench.search_runner import REGRET_AT
from archsampler.bench.search_runner import Problem
from archsampler.bench.search_runner import ProblemSpec
from archsampler.bench.tables import nb201_table_path

DEFAULT_STRATEGIES = "random,evolution,tpe,lanas"
_problem: Problem | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `bench search` options."""
    space = parser.add_mutually_exclusive_group()
    space.add_argument("--space", choices=["nb201"], default="nb201", help="built-in space")
    space.add_argument("--space-file", type=Path, help="user-defined space (JSON)")
    parser.add_argument("--table", type=Path, help="lookup CSV (default: the NB201 table)")
    parser.add_argument("--metric", default=None, help="column the search sees (maximised)")
    parser.add_argument(
        "--report-metric", default=None, help="column regret is measured on (default: --metric)"
    )
    parser.add_argument("--strategies", default=DEFAULT_STRATEGIES, help="comma-separated")
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per strategy")
    parser.add_argument("--budget", type=int, default=500, help="distinct evaluations per run")
    parser.add_argument("--workers", type=int, default=2, help="processes (1 = in process)")
    parser.add_argument(
        "--strategy-options",
        action="append",
        default=[],
        metavar="NAME:JSON",
        help='options of one strategy, e.g. evolution:{"population": 100} (repeatable)',
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="PNG of regret vs evaluations")


def parse_strategy_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """`["name:{...}", ...]` → `{name: options}`; ValueError says which item is bad."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, text = item.partition(":")
        try:
            options = json.loads(text) if sep else None
        except json.JSONDecodeError as exc:
            raise ValueError(f"--strategy-options {item!r}: bad JSON ({exc})") from None
        if not isinstance(options, dict):
            raise ValueError(f"--strategy-options {item!r}: expected NAME:{{JSON object}}")
        out[name.strip()] = options
    return out


def check_strategies(names: list[str]) -> None:
    """Raise ValueError for an unknown name, RuntimeError when one cannot be imported."""
    from archsampler.strategies import strategy_class

    for name in names:
        try:
            if name == "tpe":
                from archsampler.bench.tpe import _optuna

                _optuna()
            else:
                if "@" in name:
                    if name not in search_runner.presets():
                        raise ValueError(
                            f"unknown preset {name!r}; presets: {sorted(search_runner.presets())}"
                        )
                    continue
                base, _, extra = name.partition("+")
                if extra not in ("", "nao"):
                    raise ValueError(f"unknown strategy suffix in {name!r}; only '+nao'")
                strategy_class(base)
        except ImportError as exc:
            raise RuntimeError(f"strategy {name!r} is not available: {exc}") from None


def _init_worker(spec: ProblemSpec) -> None:
    global _problem
    _problem = search_runner.load_problem(spec)


Result = tuple[str, int, np.ndarray, dict[str, int]]


def _run_task(task: tuple[str, int, int, dict[str, Any] | None]) -> Result:
    name, seed, budget, options = task
    assert _problem is not None
    stats: dict[str, int] = {}
    rows = search_runner.run_search(_problem, name, seed, budget, options, stats=stats)
    return name, seed, rows, stats


def run_all(
    spec: ProblemSpec,
    strategies: list[str],
    seeds: int,
    budget: int,
    *,
    workers: int = 2,
    options: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
    stats: dict[str, list[dict[str, int]]] | None = None,
) -> tuple[Problem, dict[str, list[np.ndarray]]]:
    """Every (strategy, seed) run; returns the problem and the traces by strategy (seed order).

    `stats`, when given, receives each strategy's per-seed proposal stats (seed order).
    """
    options = options or {}
    problem = search_runner.load_problem(spec)
    tasks = [(n, s, budget, options.get(n)) for n in strategies for s in range(seeds)]
    found: dict[str, dict[int, Result]] = {n: {} for n in strategies}
    bar = tqdm(total=len(tasks), desc="search", file=sys.stderr, disable=not progress)
    if workers <= 1:
        global _problem
        _problem = problem
        for result in map(_run_task, tasks):
            found[result[0]][result[1]] = result
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(spec,)) as pool:
            for result in pool.imap_unordered(_run_task, tasks):
                found[result[0]][result[1]] = result
                bar.update()
    bar.close()
    if stats is not None:
        for n in strategies:
            stats[n] = [found[n][s][3] for s in range(seeds)]
    return problem, {n: [found[n][s][2] for s in range(seeds)] for n in strategies}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table of the per-strategy metrics."""

    def iqr(d: dict[str, float]) -> str:
        return f"{d['median']:g} [{d['q1']:g}, {d['q3']:g}]"

    head = ["strategy", "to best: median [q1, q3]", "to top-0.1%"] + [
        f"regret@{k}" for k in REGRET_AT
    ]
    head.append("in-leaf")
    rows = [head]
    for name, r in results.items():
        regrets = [("-" if v is None else f"{v:.3f}") for v in r["regret"].values()]
        leaf = "-" if r.get("in_leaf") is None else f"{100 * r['in_leaf']:.1f}%"
        rows.append([name, iqr(r["to_best"]), iqr(r["to_top"]), *regrets, leaf])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table, write `--json` / `--plot` when asked."""
    space_file = str(args.space_file) if args.space_file else None
    if space_file and not args.table:
        print("--space-file needs --table (a CSV with one column per parameter)", file=sys.stderr)
        return 2
    metric = args.metric or ("c10_valid_acc" if space_file is None else None)
    if metric is None:
        print("--metric is required with --space-file", file=sys.stderr)
        return 2
    table = args.table or nb201_table_path()
    spec = ProblemSpec(space_file, str(table), metric, args.report_metric or metric)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.seeds < 1 or args.budget < 1 or not strategies:
        print("--seeds and --budget must be >= 1 and --strategies non-empty", file=sys.stderr)
        return 2
    try:
        check_strategies(strategies)
        options = parse_strategy_options(args.strategy_options)
        stats: dict[str, list[dict[str, int]]] = {}
        problem, traces = run_all(
            spec,
            strategies,
            args.seeds,
            args.budget,
            workers=args.workers,
            options=options,
            stats=stats,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"bench search: {exc}", file=sys.stderr)
        return 2
    results = {
        n: search_runner.summarize(problem, traces[n], args.budget, stats[n]) for n in strategies
    }
    print(format_table(results))
    config = {
        "space": space_file or "nb201",
        "table": str(table),
        "metric": spec.metric,
        "report_metric": spec.report_metric,
        "strategies": strategies,
        "seeds": args.seeds,
        "budget": args.budget,
        "strategy_options": options,
        "table_rows": len(problem.table),
        "networks": problem.networks,
        "best_cells": int(problem.is_best.sum()),
        "top_cells": int(problem.is_top.sum()),
        "best_report_metric": problem.best_report,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"strategies": results, "config": config}, indent=2))
    if args.plot:
        from archsampler.bench.plot import plot_regret

        curves = {
            n: np.stack([search_runner.regret_curve(problem, t, args.budget) for t in traces[n]])
            for n in strategies
        }
        plot_regret(curves, args.plot, title=f"{config['space']}: regret on {spec.report_metric}")
    return 0
