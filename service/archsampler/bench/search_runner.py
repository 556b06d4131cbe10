"""In-process search loop against a lookup table, and the metrics computed from its traces.

One run = one (strategy, seed): ask for one architecture, look it up, report the value,
until `budget` distinct networks have been evaluated. Distinct means distinct canonical
hash: on NAS-Bench-201 isomorphic cells are one network (6,466 of the 15,625 cells), and a
strategy that proposes an isomorph of an evaluated cell fails the run. A proposed cell is
looked up by its own row (isomorphic cells were trained separately). An architecture the
table does not hold (a user space with a sparse table) is reported as failed (value None)
and still counts as an evaluation: a real trainer would have spent the run on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Iterator
from typing import Protocol

import numpy as np

from archsampler.bench.tables import LookupTable
from archsampler.bench.tables import load_table
from archsampler.errors import ExhaustedError
from archsampler.spaces import make_space
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.strategies import Observation
from archsampler.strategies import Strategy
from archsampler.strategies import make_strategy

REGRET_AT = (50, 100, 200, 500)
TOP_FRACTION = 0.001
MISS = -1
"""Trace entry of an evaluated architecture that the table does not hold."""


@dataclass(frozen=True)
class ProblemSpec:
    """A picklable description of a benchmark problem (sent to worker processes).

    Attributes:
        space_file: a user-space JSON file, or None for NAS-Bench-201.
        table: the lookup-table CSV.
        metric: the column the search sees (maximised).
        report_metric: the column regret is measured on.
    """

    space_file: str | None
    table: str
    metric: str
    report_metric: str


@dataclass
class Problem:
    """A loaded lookup table with the per-row facts the metrics need."""

    space: SearchSpace
    table: LookupTable
    metric: str
    report_metric: str
    values: np.ndarray
    report: np.ndarray
    is_best: np.ndarray = field(repr=False)
    is_top: np.ndarray = field(repr=False)
    cells: dict[Arch, int] = field(repr=False, default_factory=dict)
    networks: int = 0

    @property
    def best_report(self) -> float:
        return float(self.report.max())

    @property
    def worst_report(self) -> float:
        return float(self.report.min())

    def row(self, arch: Arch) -> int:
        """Table row of exactly this cell (not of an isomorph), else of the first row with
        its canonical hash (a user space value written differently), else MISS."""
        row = self.cells.get(arch)
        if row is None:
            row = self.table.index.get(self.space.canonical_hash(arch), MISS)
        return row


def load_space(space_file: str | None) -> SearchSpace:
    """NAS-Bench-201 when `space_file` is None, else the user space declared in the file."""
    if space_file is None:
        return make_space({"builtin": "nb201"})
    from archsampler.spaces.user import load_space_file

    return load_space_file(Path(space_file))


def load_problem(spec: ProblemSpec) -> Problem:
    """Load the space and table of `spec`.

    Raises:
        ValueError: a metric column is missing from the table.
    """
    space = load_space(spec.space_file)
    table = load_table(Path(spec.table), space)
    for col in (spec.metric, spec.report_metric):
        if col not in table.columns:
            raise ValueError(
                f"{spec.table} has no numeric column {col!r}; columns: {sorted(table.columns)}"
            )
    values = table.columns[spec.metric]
    report = table.columns[spec.report_metric]
    k = max(1, math.ceil(TOP_FRACTION * len(values)))
    threshold = np.sort(values)[-k]
    # The best network: every cell isomorphic to a best cell (on NB201 the best is alone).
    hashes = [space.canonical_hash(a) for a in table.archs]
    best = {h for h, v in zip(hashes, values == values.max(), strict=True) if v}
    return Problem(
        space=space,
        table=table,
        metric=spec.metric,
        report_metric=spec.report_metric,
        values=values,
        report=report,
        is_best=np.array([h in best for h in hashes]),
        is_top=values >= threshold,
        cells={a: i for i, a in reversed(list(enumerate(table.archs)))},
        networks=len(set(hashes)),
    )


class Searcher(Protocol):
    """What the loop drives: `ask` returns an unseen architecture (None = exhausted)."""

    def ask(self) -> Arch | None: ...

    def tell(self, arch: Arch, value: float | None) -> None: ...


class StrategySearcher:
    """Drives a registry strategy one proposal at a time, with no pending trials.

    For a strategy with a region tree (lanas), every proposal made once the tree is in use
    (`uses_tree`) is checked against the tree it was proposed from: `stats["in_leaf"]`
    counts those whose own features route to exactly the leaf UCB selected for them
    (`selected`), `stats["in_region"]` those that route into the region they are labelled
    with (a leaf, or an ancestor after a back-off), out of `stats["tree_proposals"]`
    (random fallbacks count as neither).
    """

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.stats = {"tree_proposals": 0, "in_leaf": 0, "in_region": 0}

    def ask(self) -> Arch | None:
        tree = getattr(self.strategy, "tree", None)
        from_tree = tree is not None and getattr(self.strategy, "uses_tree", False)
        try:
            proposal = self.strategy.propose(1, [])[0]
        except ExhaustedError:
            return None
        if from_tree:
            self.stats["tree_proposals"] += 1
            selected = self.strategy.selected[0]  # type: ignore[attr-defined]
            if proposal.region and selected is not None:
                label = "" if proposal.region == "root" else proposal.region
                leaf = tree.route(self.strategy.space.encode(proposal.arch)).path
                self.stats["in_region"] += leaf.startswith(label)
                self.stats["in_leaf"] += leaf == selected
        return proposal.arch

    def tell(self, arch: Arch, value: float | None) -> None:
        self.strategy.observe([Observation(arch, value)])


def presets() -> dict[str, tuple[str, dict[str, Any]]]:
    """Named strategy settings a bench can run side by side: name → (strategy, options)."""
    from archsampler.strategies.lanas.strategy import PAPER_OPTIONS

    return {
        "lanas@paper": ("lanas", PAPER_OPTIONS),
        "lanas@relabel": ("lanas", {"leaf_rule": "relabel", "sampler": "hit_and_run"}),
    }


def make_searcher(
    name: str, space: SearchSpace, seed: int, options: dict[str, Any] | None = None
) -> Searcher:
    """`tpe` (Optuna), any registry strategy name, `<name>+nao` (with a NAO model), or a
    preset (`presets`: e.g. `lanas@paper`, whose `options` go on top of the preset's).

    `nao` always trains its model; `lanas+nao` is lanas with NAO predictor ranking.
    """
    if name == "tpe":
        from archsampler.bench.tpe import TPESearcher

        return TPESearcher(space, seed=seed, **(options or {}))
    if "@" in name:
        if name not in presets():
            raise ValueError(f"unknown preset {name!r}; presets: {sorted(presets())}")
        base, preset = presets()[name]
        strategy = make_strategy(base, space, seed=seed, options={**preset, **(options or {})})
        return StrategySearcher(strategy)
    base, _, extra = name.partition("+")
    if extra not in ("", "nao"):
        raise ValueError(f"unknown strategy suffix {extra!r}; only '+nao' is known")
    strategy = make_strategy(base, space, seed=seed, options=options)
    if extra == "nao" or base == "nao":
        from archsampler.bench.model_searcher import ModelSearcher

        return ModelSearcher(strategy, space, seed)
    return StrategySearcher(strategy)


def distinct_asks(
    searcher: Any, space: SearchSpace, budget: int, name: str, seed: int
) -> Iterator[Arch]:
    """Up to `budget` architectures from `searcher.ask()` (fewer when it returns None); the
    caller tells each before the next ask.

    Raises:
        RuntimeError: an architecture equal (by canonical hash: on NB201 also isomorphic) to
            an earlier one of this run.
    """
    seen: set[str] = set()
    for _ in range(budget):
        arch = searcher.ask()
        if arch is None:
            return
        key = space.canonical_hash(arch)
        if key in seen:
            raise RuntimeError(
                f"strategy {name!r} (seed {seed}) re-proposed {space.to_string(arch)!r}"
            )
        seen.add(key)
        yield arch


def run_search(
    problem: Problem,
    name: str,
    seed: int,
    budget: int,
    options: dict[str, Any] | None = None,
    *,
    stop_at_best: bool = True,
    stats: dict[str, int] | None = None,
) -> np.ndarray:
    """Table rows evaluated by one run, in order (MISS for architectures not in the table).

    With `stop_at_best` the run ends once the table's best `metric` cell is evaluated:
    nothing later can change the metrics (the best-so-far cell is then fixed), so the
    shortcut is exact and saves most of the time of strong strategies.

    `stats`, when given, receives the searcher's proposal counts (see `StrategySearcher`).

    Raises:
        RuntimeError: the strategy proposed an architecture it had already evaluated (or,
            on NB201, a cell isomorphic to one).
    """
    searcher = make_searcher(name, problem.space, seed, options)
    rows: list[int] = []
    for arch in distinct_asks(searcher, problem.space, budget, name, seed):
        row = problem.row(arch)
        value = None if row == MISS else float(problem.values[row])
        searcher.tell(arch, value)
        rows.append(row)
        if stop_at_best and row != MISS and problem.is_best[row]:
            break
    if stats is not None:
        stats.update(getattr(searcher, "stats", {}))
    return np.asarray(rows, dtype=np.int64)


def first_hit(rows: np.ndarray, mask: np.ndarray, budget: int) -> int:
    """1-based evaluation at which a row with `mask` True first appears; budget+1 if never."""
    for i, row in enumerate(rows[:budget]):
        if row != MISS and mask[row]:
            return i + 1
    return budget + 1


def regret_curve(problem: Problem, rows: np.ndarray, budget: int) -> np.ndarray:
    """Regret after 1..budget evaluations (the last value carries on after a short run).

    Regret = best `report_metric` in the table − `report_metric` of the cell with the best
    `metric` evaluated so far; before any cell is found in the table it is the worst case
    (best − worst `report_metric`).
    """
    curve = np.empty(budget)
    best_row = MISS
    current = problem.best_report - problem.worst_report
    for i in range(budget):
        if i < len(rows):
            row = int(rows[i])
            better = best_row == MISS or problem.values[row] > problem.values[best_row]
            if row != MISS and better:
                best_row = row
                current = problem.best_report - float(problem.report[best_row])
        curve[i] = current
    return curve


def quartiles(x: np.ndarray) -> dict[str, float]:
    """Median and quartiles of `x` (linear interpolation)."""
    q1, med, q3 = np.percentile(np.asarray(x, dtype=float), [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}


def summarize(
    problem: Problem,
    traces: list[np.ndarray],
    budget: int,
    stats: list[dict[str, int]] | None = None,
) -> dict[str, Any]:
    """The JSON metrics of one strategy from its traces (one per seed) and proposal stats.

    `in_leaf` / `in_region`: fractions of the tree's proposals over all seeds (see
    `StrategySearcher`), None for strategies without a region tree.
    """
    to_best = np.array([first_hit(t, problem.is_best, budget) for t in traces])
    to_top = np.array([first_hit(t, problem.is_top, budget) for t in traces])
    curves = np.stack([regret_curve(problem, t, budget) for t in traces])
    return {
        "to_best": quartiles(to_best),
        "to_top": quartiles(to_top),
        "regret": {
            str(k): (float(curves[:, k - 1].mean()) if k <= budget else None) for k in REGRET_AT
        },
        "found_best": float((to_best <= budget).mean()),
        "found_top": float((to_top <= budget).mean()),
        "evaluations": int(sum(len(t) for t in traces)),
        **_leaf_fractions(stats or []),
    }


def _leaf_fractions(stats: list[dict[str, int]]) -> dict[str, Any]:
    total = sum(s.get("tree_proposals", 0) for s in stats)
    if not total:
        return {"tree_proposals": 0, "in_leaf": None, "in_region": None}
    return {
        "tree_proposals": total,
        "in_leaf": sum(s["in_leaf"] for s in stats) / total,
        "in_region": sum(s["in_region"] for s in stats) / total,
    }
