"""`archsampler bench multiobjective`: accuracy vs parameter count on NAS-Bench-201 CIFAR-10.

Two objectives per cell: `c10_valid_acc` (maximised, from the lookup table) and the exact
parameter count of the cell's CIFAR network (minimised; `nb201_params`, checked against
torch's `sum(p.numel())` in the tests). Each (searcher, seed) run asks one architecture at
a time until `--budget` distinct networks are evaluated (isomorphic cells are one network,
as in `bench search`), and the run's quality after t evaluations is its hypervolume regret:
the hypervolume of the table's whole Pareto front minus that of the evaluated cells, with
both objectives scaled to [0, 1] over the table (accuracy (a - a_min) / (a_max - a_min),
parameters (p_max - p) / (p_max - p_min)) and the reference point at (a_min, p_max), i.e.
(0, 0) scaled; regret is thus a fraction of the unit square.

Searchers: the registry strategies (`lanas`, `evolution` in its NSGA-II mode, `random`) fed
`Observation.values`, Optuna's `NSGAIISampler` (`nsga2`) and Optuna's multi-objective
`TPESampler(multivariate=True)` (`motpe`), both at their documented defaults apart from the
seed. An Optuna ask of a network already evaluated is told its values back and not counted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from archsampler.bench.plot import plot_quartiles
from archsampler.bench.search import parse_strategy_options
from archsampler.bench.search_runner import distinct_asks
from archsampler.bench.tables import load_table
from archsampler.bench.tables import nb201_table_path
from archsampler.pareto import hypervolume
from archsampler.pareto import pareto_mask
from archsampler.spaces import make_space
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.spaces.nb201 import OPS
from archsampler.spaces.nb201 import PARAM_NAMES
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy

DEFAULT_SEARCHERS = "lanas,evolution,random,nsga2,motpe"
OPTUNA_SEARCHERS = ("nsga2", "motpe")
REGRET_AT = (50, 100, 200, 300)
QUANTILES = (10, 25, 50, 75, 90)
MAX_CONSECUTIVE_REPEATS = 2000
"""Optuna asks in a row that give nothing new before a run counts as exhausted."""
METRIC = "c10_valid_acc"

# NAS-Bench-201's CIFAR network (Dong & Yang, ICLR 2020, section 2.1): a 3x3 conv stem with
# 16 channels + BN; three stages of N = 5 cells with 16, 32, 64 channels joined by basic
# residual blocks of stride 2; BN-ReLU, global average pooling and a linear classifier.
STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
CLASSES = 10


def _bn(c: int) -> int:
    return 2 * c  # affine weight and bias (running statistics are buffers, not parameters)


def _relu_conv_bn(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + _bn(c_out)  # conv without bias


def nb201_params(arch: Arch) -> int:
    """Parameters of the NB201 CIFAR-10 network of cell `arch` (six op indices into `OPS`).

    Every edge's op counts, even one whose output cannot reach the cell's output: the
    network is built with it. `none`, `skip_connect` and `avg_pool_3x3` have no parameters
    (within a stage a cell's input and output widths are equal).
    """
    per_cell = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
    total = 3 * STAGE_CHANNELS[0] * 9 + _bn(STAGE_CHANNELS[0])  # stem
    for c in STAGE_CHANNELS:
        for op in arch:
            k = per_cell.get(OPS[op])
            if k is not None:
                total += CELLS_PER_STAGE * _relu_conv_bn(c, c, k)
    for c_in, c_out in zip(STAGE_CHANNELS, STAGE_CHANNELS[1:], strict=False):
        # conv_a (3x3, stride 2), conv_b (3x3), shortcut: 2x2 avg pool + 1x1 conv (no BN)
        total += _relu_conv_bn(c_in, c_out, 3) + _relu_conv_bn(c_out, c_out, 3) + c_in * c_out
    c = STAGE_CHANNELS[-1]
    return total + _bn(c) + c * CLASSES + CLASSES


def nb201_network(arch: Arch) -> Any:
    """The torch module of cell `arch`'s CIFAR-10 network (for checking `nb201_params`)."""
    import torch
    from torch import nn

    def rcb(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )

    class Zero(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 0.0

    def op(name: str, c: int) -> nn.Module:
        return {
            "none": lambda: Zero(),
            "skip_connect": lambda: nn.Identity(),
            "nor_conv_1x1": lambda: rcb(c, c, 1),
            "nor_conv_3x3": lambda: rcb(c, c, 3),
            "avg_pool_3x3": lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        }[name]()

    edges = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

    class Cell(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.ops = nn.ModuleList(op(OPS[o], c) for o in arch)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            nodes = [x]
            for node in (1, 2, 3):
                nodes.append(
                    sum(self.ops[k](nodes[j]) for k, (i, j) in enumerate(edges) if i == node)
                )
            return nodes[3]

    class Residual(nn.Module):
        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.a, self.b = rcb(c_in, c_out, 3, stride=2), rcb(c_out, c_out, 3)
            self.down = nn.Sequential(
                nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.down(x) + self.b(self.a(x))

    layers: list[nn.Module] = [
        nn.Conv2d(3, STAGE_CHANNELS[0], 3, padding=1, bias=False),
        nn.BatchNorm2d(STAGE_CHANNELS[0]),
    ]
    for s, c in enumerate(STAGE_CHANNELS):
        if s:
            layers.append(Residual(STAGE_CHANNELS[s - 1], c))
        layers.extend(Cell(c) for _ in range(CELLS_PER_STAGE))
    c = STAGE_CHANNELS[-1]
    layers += [
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(c, CLASSES),
    ]
    return nn.Sequential(*layers)


@dataclass
class Problem:
    """The NB201 table with both objectives, scaled, and its true hypervolume."""

    space: SearchSpace
    cells: dict[Arch, int]
    acc: np.ndarray
    params: np.ndarray
    scaled: np.ndarray  # (rows, 2) in [0, 1], maximising
    front_hv: float
    front_rows: np.ndarray

    def objectives(self, row: int) -> tuple[float, float]:
        """(accuracy, -parameters): both maximised, as strategies see them."""
        return float(self.acc[row]), -float(self.params[row])


def load_problem(table: Path) -> Problem:
    """Load the NB201 table and compute every cell's parameter count and the true front."""
    space = make_space({"builtin": "nb201"})
    t = load_table(table, space)
    acc = t.columns[METRIC]
    params = np.array([nb201_params(a) for a in t.archs], dtype=float)
    scaled = np.stack(
        [
            (acc - acc.min()) / (acc.max() - acc.min()),
            (params.max() - params) / (params.max() - params.min()),
        ],
        axis=1,
    )
    front = np.flatnonzero(pareto_mask(scaled))
    return Problem(
        space=space,
        cells={a: i for i, a in reversed(list(enumerate(t.archs)))},
        acc=acc,
        params=params,
        scaled=scaled,
        front_hv=hypervolume(scaled, (0.0, 0.0)),
        front_rows=front,
    )


class StrategyMO:
    """A registry strategy told both objectives through `Observation.values`."""

    def __init__(self, name: str, space: SearchSpace, seed: int, options: dict[str, Any]):
        self.strategy = make_strategy(name, space, seed=seed, options=options)

    def ask(self) -> Arch | None:
        from archsampler.errors import ExhaustedError

        try:
            return self.strategy.propose(1, [])[0].arch
        except ExhaustedError:
            return None

    def tell(self, arch: Arch, values: tuple[float, float]) -> None:
        self.strategy.observe([Observation(arch, values[0], values=values)])


class OptunaMO:
    """Optuna's NSGA-II or multivariate TPE on (accuracy ↑, parameters ↓) via ask/tell."""

    def __init__(self, name: str, space: SearchSpace, seed: int, options: dict[str, Any]):
        from archsampler.bench.tpe import _optuna

        optuna = _optuna()
        if name == "nsga2":
            sampler = optuna.samplers.NSGAIISampler(seed=seed, **options)
        else:
            sampler = optuna.samplers.TPESampler(multivariate=True, seed=seed, **options)
        self.space = space
        self.study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        self.cache: dict[str, tuple[float, float]] = {}
        self._open: Any = None

    def ask(self) -> Arch | None:
        for _ in range(MAX_CONSECUTIVE_REPEATS):
            trial = self.study.ask()
            params = {n: trial.suggest_categorical(n, OPS) for n in PARAM_NAMES}
            arch = self.space.from_params(params)
            key = self.space.canonical_hash(arch)
            if key in self.cache:
                acc, neg = self.cache[key]
                self.study.tell(trial, [acc, -neg])
                continue
            self._open = (trial, key)
            return arch
        return None

    def tell(self, arch: Arch, values: tuple[float, float]) -> None:
        trial, key = self._open
        self.cache[key] = values
        self.study.tell(trial, [values[0], -values[1]])


def run_one(
    problem: Problem, name: str, seed: int, budget: int, options: dict[str, Any] | None = None
) -> np.ndarray:
    """Table rows one run evaluated, in order (distinct networks; a re-proposal raises)."""
    cls = OptunaMO if name in OPTUNA_SEARCHERS else StrategyMO
    searcher = cls(name, problem.space, seed, options or {})
    rows: list[int] = []
    for arch in distinct_asks(searcher, problem.space, budget, name, seed):
        row = problem.cells[arch]
        searcher.tell(arch, problem.objectives(row))
        rows.append(row)
    return np.asarray(rows, dtype=np.int64)


def regret_curve(problem: Problem, rows: np.ndarray, budget: int) -> np.ndarray:
    """Hypervolume regret after 1..budget evaluations (a short run's last value carries on)."""
    curve = np.empty(budget)
    front = np.zeros((0, 2))
    current = problem.front_hv
    for i in range(budget):
        if i < len(rows):
            point = problem.scaled[rows[i]][None, :]
            front = np.vstack([front, point])
            front = front[pareto_mask(front)]
            current = problem.front_hv - hypervolume(front, (0.0, 0.0))
        curve[i] = current
    return curve


_problem: Problem | None = None


def _init_worker(table: str) -> None:
    global _problem
    _problem = load_problem(Path(table))


def _task(task: tuple[str, int, int, dict[str, Any]]) -> tuple[str, int, np.ndarray]:
    name, seed, budget, options = task
    assert _problem is not None
    rows = run_one(_problem, name, seed, budget, options)
    return name, seed, regret_curve(_problem, rows, budget)


def run_all(
    table: Path,
    searchers: list[str],
    seeds: int,
    budget: int,
    *,
    workers: int = 2,
    options: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
) -> tuple[Problem, dict[str, np.ndarray]]:
    """Every (searcher, seed) run; the regret curves by searcher, shape (seeds, budget)."""
    global _problem
    options = options or {}
    problem = _problem = load_problem(table)
    tasks = [(n, s, budget, options.get(n, {})) for n in searchers for s in range(seeds)]
    found: dict[str, dict[int, np.ndarray]] = {n: {} for n in searchers}
    bar = tqdm(total=len(tasks), desc="multiobjective", file=sys.stderr, disable=not progress)
    if workers <= 1:
        for name, seed, curve in map(_task, tasks):
            found[name][seed] = curve
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(str(table),)) as pool:
            for name, seed, curve in pool.imap_unordered(_task, tasks):
                found[name][seed] = curve
                bar.update()
    bar.close()
    return problem, {n: np.stack([found[n][s] for s in range(seeds)]) for n in searchers}


def summarize(curves: np.ndarray, budget: int) -> dict[str, dict[str, float]]:
    """Mean and quantiles over seeds of the regret at each of `REGRET_AT` within budget."""
    out: dict[str, dict[str, float]] = {}
    for k in REGRET_AT:
        if k > budget:
            continue
        col = curves[:, k - 1]
        stats = {"mean": float(col.mean())}
        stats.update({f"p{q}": float(np.percentile(col, q)) for q in QUANTILES})
        out[str(k)] = stats
    return out


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Rows: searcher × evaluations; columns: mean and the quantiles over seeds."""
    head = ["searcher", "evals", "mean"] + [f"p{q}" for q in QUANTILES]
    rows = [head]
    for name, by_k in results.items():
        for k, s in by_k.items():
            rows.append([name, k, *(f"{s[c]:.4f}" for c in head[2:])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `bench multiobjective` options."""
    parser.add_argument("--table", type=Path, help="NB201 CSV (default: the shared table)")
    parser.add_argument("--searchers", default=DEFAULT_SEARCHERS, help="comma-separated")
    parser.add_argument("--seeds", type=int, default=30, help="seeds 0..N-1 per searcher")
    parser.add_argument("--budget", type=int, default=300, help="distinct evaluations per run")
    parser.add_argument("--workers", type=int, default=2, help="processes (1 = in process)")
    parser.add_argument(
        "--strategy-options",
        action="append",
        default=[],
        metavar="NAME:JSON",
        help='options of one searcher, e.g. lanas:{"cp": 0.2} (repeatable)',
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="PNG of the median regret curves")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table and the acceptance ratios; write --json/--plot."""
    searchers = [s.strip() for s in args.searchers.split(",") if s.strip()]
    if args.seeds < 1 or args.budget < 1 or not searchers:
        print("--seeds and --budget must be >= 1 and --searchers non-empty", file=sys.stderr)
        return 2
    table = args.table or nb201_table_path()
    try:
        options = parse_strategy_options(args.strategy_options)
        from archsampler.strategies import strategy_class

        for name in searchers:
            if name in OPTUNA_SEARCHERS:
                from archsampler.bench.tpe import _optuna

                _optuna()
            elif not strategy_class(name).multi_objective:
                raise ValueError(f"strategy {name!r} does not support several objectives")
        problem, curves = run_all(
            table, searchers, args.seeds, args.budget, workers=args.workers, options=options
        )
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"bench multiobjective: {exc}", file=sys.stderr)
        return 2
    results = {n: summarize(curves[n], args.budget) for n in searchers}
    print(format_table(results))
    ratios = _ratios(results)
    for line in ratios["lines"]:
        print(line)
    config = {
        "table": str(table),
        "metric": METRIC,
        "objectives": [
            {"name": METRIC, "goal": "maximize"},
            {"name": "params", "goal": "minimize"},
        ],
        "reference_point": {METRIC: float(problem.acc.min()), "params": problem.params.max()},
        "scaling": {
            METRIC: [float(problem.acc.min()), float(problem.acc.max())],
            "params": [float(problem.params.min()), float(problem.params.max())],
        },
        "front_hypervolume": problem.front_hv,
        "front_cells": len(problem.front_rows),
        "searchers": searchers,
        "seeds": args.seeds,
        "budget": args.budget,
        "strategy_options": options,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        medians = {n: np.median(c, axis=0).round(7).tolist() for n, c in curves.items()}
        payload = {
            "searchers": results,
            "ratios": ratios["values"],
            "config": config,
            "median_curves": medians,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    if args.plot:
        plot_curves(curves, args.plot)
    return 0


def plot_curves(curves: dict[str, np.ndarray], path: Path) -> None:
    """A PNG of each searcher's median hypervolume regret (quartile band), log-log axes."""
    plot_quartiles(
        curves,
        path,
        title="NB201 CIFAR-10: accuracy vs parameters",
        xlabel="evaluations (distinct networks)",
        ylabel="hypervolume regret (median, quartiles)",
        ylog=True,
        band_alpha=0.15,
    )


def _ratios(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """lanas / nsga2 and lanas / motpe mean regret at 100 evaluations, when all ran."""
    values: dict[str, float] = {}
    lines: list[str] = []
    lanas = results.get("lanas", {}).get("100")
    for other in OPTUNA_SEARCHERS:
        base = results.get(other, {}).get("100")
        if lanas is None or base is None:
            continue
        for stat in ("mean", "p50"):
            ratio = lanas[stat] / base[stat] if base[stat] > 0 else float("inf")
            values[f"lanas/{other}@100 {stat}"] = ratio
            lines.append(f"lanas / {other} hypervolume regret at 100 ({stat}): {ratio:.3f}")
    return {"values": values, "lines": lines}
