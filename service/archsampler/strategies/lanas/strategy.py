"""LaNAS: learned action space (tree of linear regressors) + UCB + sampling in leaf polytopes."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any
from typing import Iterator
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

from archsampler.pareto import chebyshev_scores
from archsampler.pareto import dominated_by
from archsampler.pareto import domination_counts
from archsampler.pareto import front_distances
from archsampler.pareto import mo_weights
from archsampler.pareto import point_volumes
from archsampler.polytope import interior_point
from archsampler.polytope import sample
from archsampler.polytope.hit_and_run import DEFAULT_BANK
from archsampler.polytope.hit_and_run import DirectionBank
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.strategies.base import Excluded
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy
from archsampler.strategies.base import UsesModel
from archsampler.strategies.lanas.tree import CHUNK
from archsampler.strategies.lanas.tree import LaTree
from archsampler.strategies.lanas.tree import Node
from archsampler.strategies.lanas.tree import region
from archsampler.strategies.lanas.ucb import select
from archsampler.strategies.lanas.ucb import ucb_score

DEFAULTS: dict[str, Any] = {
    "height": 5,
    "cp": 0.1,
    "init_samples": 10,
    "min_samples": 5,
    "relearn_every": 1,
    "sampler": "auto",
    "candidates": 100,
    "ridge": 0.1,
    "rank": "leaf",
    "rank_min": 10,
    "explore": 0.1,
    "max_fit": 1000,
    "target": "rank",
    "virtual_loss": 0.3,
    "relearn_growth": 0.01,
    "predictor": "auto",
    "leaf_rule": "reject",
    "cp_scale": "range",
    "background_from": 2000,
    "mo_score": "count",
    "mo_rank": "vector",
    "mo_rank_min": 10,
    "mo_tie": "none",
}
PAPER_OPTIONS: dict[str, Any] = {
    "height": 4,
    "cp": 0.2,
    "cp_scale": "max",
    "init_samples": 10,
    "relearn_every": 10,
    "relearn_growth": 0.0,
    "min_samples": 1,
    "sampler": "gibbs",
    "rank": "none",
    "explore": 0.0,
    "target": "value",
    "ridge": 1e-6,
    "max_fit": 100_000,
    "predictor": "off",
}
"""The LaNAS paper's NASBench settings (Wang et al., ICLR 2020 submission): a complete tree
of height 5 counted in levels (15 internal nodes, 16 leaves: our `height` 4); UCB
`v + 2c sqrt(2 ln n / n_i)` with `c = 0.1 * max(v)` (our `cp` 0.2 of the largest value);
10 random samples to start, 10 selects per learning phase; Gibbs sampling in the leaf
polytope; plain linear regression on accuracies; the first sample taken, no ranking."""
MO_ARRIVAL_WINDOW = 4096
"""Several objectives: a row routed between rebuilds is scored against at most this many
most recent rows (its rebuild rescores it against all)."""
VALUE_LIMIT = 1e300
"""Reported values beyond ±1e300 reach the tree as ±1e300 (sums of 10⁸ of them stay finite)."""
MAX_FEATURES = 512
"""Widest feature space lanas accepts: a proposal costs ~0.15 s at 512 features and 1.5-4 s
at 1,024 (polytope walks and d x d ridge fits), so wider spaces are refused at creation."""
SAMPLERS = ("auto", "hit_and_run", "gibbs", "rejection")
LEAF_RULES = ("reject", "relabel")
CP_SCALES = ("range", "max")
SLICE_S = 0.004
"""Seconds of a sliced rebuild run per observe call (at least one step)."""
REDRAWS = 3
"""Extra polytope draws for a region whose first draw decodes to nothing new inside it."""
UNIFORM_FACTOR = 4
"""Then `UNIFORM_FACTOR * candidates` uniform architectures are filtered by the region."""
RANKERS = ("leaf", "none")
PREDICTOR_MODES = ("auto", "off")
TARGETS = ("value", "rank")
MO_RANKS = ("vector", "scalar")
MO_SCORES = ("chebyshev", "distance", "count", "volume", "count_volume")
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "height": (1, 12),
    "init_samples": (0, 100_000),
    "min_samples": (1, 100_000),
    "relearn_every": (1, 1_000_000),
    "candidates": (1, 2_000),
    "rank_min": (0, 100_000),
    "max_fit": (1, 100_000),
    "background_from": (0, 10**9),
    "mo_rank_min": (0, 100_000),
}
"""Inclusive bounds of the integer options: every value inside keeps a Propose bounded."""
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "cp": (0.0, 100.0),
    "ridge": (1e-6, 1e6),
    "explore": (0.0, 1.0),
    "virtual_loss": (0.0, 100.0),
    "relearn_growth": (0.0, 10.0),
}
"""Inclusive bounds of the real options (finite numbers only); `ridge` > 0 keeps fits solvable."""
CHOICES: dict[str, tuple[str, ...]] = {
    "sampler": SAMPLERS,
    "rank": RANKERS,
    "target": TARGETS,
    "predictor": PREDICTOR_MODES,
    "leaf_rule": LEAF_RULES,
    "cp_scale": CP_SCALES,
    "mo_score": MO_SCORES,
    "mo_rank": MO_RANKS,
    "mo_tie": ("none", "leaf"),
}


class LaNASStrategy(UsesModel, Strategy):
    """Latent Action NAS over a space's real feature vectors.

    Each proposal: UCB walks the tree to a leaf; up to `candidates` new architectures that
    lie in the leaf are found (the listed space filtered by the leaf, or polytope draws
    decoded and filtered) and ranked by the leaf's path regressors; a leaf with none is
    marked dry and UCB walks again (uniform random once every leaf is dry). Every proposal
    is labelled with the leaf it lies in. Pending architectures count as visits with a
    virtual loss. The defaults (`DEFAULTS`) were chosen on the NAS-Bench-201 CIFAR-10
    table with budgets up to 1,000 (the table `bench search` scores them on);
    `PAPER_OPTIONS` are the LaNAS paper's settings. Every option is bounded
    (`INT_BOUNDS`, `FLOAT_BOUNDS`, `CHOICES`); a value outside is a ValueError.

    Options (all optional):
        height: maximum tree depth (leaves are at most `height` splits from the root).
        cp: UCB exploration constant, relative to the observed values (see `cp_scale`).
        cp_scale: "range": the absolute constant is `cp * (max - min)` of observed values;
            "max": `cp * max |value|` (the paper's scaling).
        init_samples: uniformly random proposals before the tree is used.
        min_samples: a node splits only when both children get at least this many samples.
        relearn_every: rebuild the tree every k observations; in between, new samples are
            routed into the current leaves.
        relearn_growth: with many observations, rebuild only once the data has grown by
            this fraction since the last rebuild (keeps the amortised cost flat).
        background_from: from this many observations on, a rebuild is spread in slices
            over the observe calls until its tree is used, a fixed number of observations
            later (see `_relearn`): no rebuild in one piece, and the same tree on replay.
        sampler: how a leaf's candidates are found: "auto" lists the space when it is small
            (`enumerate_archs`) and samples its discrete points in the leaf exactly,
            otherwise draws by hit-and-run; "hit_and_run", "gibbs", "rejection": always
            draw in the leaf's polytope and decode.
        leaf_rule: "reject": a decoded candidate outside the leaf is dropped (proposals lie
            in their leaf); "relabel": it is kept and labelled with the leaf it lies in,
            backing off to the parent region when a leaf yields nothing (the old rule).
        candidates: candidates found in the selected leaf per proposal.
        ridge: ridge penalty of the node regressors.
        rank: "leaf" ranks a leaf's candidates by the deepest path regressor fitted on at
            least `rank_min` samples; "none" takes them in sampling order (textbook LaNAS).
        rank_min: see `rank`.
        explore: probability of taking a random leaf candidate instead of the best ranked.
        max_fit: regressors are fitted on at most this many samples of a node.
        target: what the regressors fit: "value" or "rank" (the quantile of the value
            among observations, robust to outliers such as diverged trainings).
        virtual_loss: a pending architecture counts as a visit of its leaf's path with the
            value `mean - virtual_loss * (max - min)`, spreading parallel proposals.
        predictor: "auto" ranks leaf candidates by the study's NAO model once one
            validates better than chance (see `UsesModel`); "off" never does.

    Several objectives (`Observation.values`, maximising vectors; `feasible` False for a
    trial that violates a metric constraint). The tree splits on a scalar per trial,
    recomputed from all vectors at every rebuild (a row routed in between keeps the score
    it had on arrival, from the rows before it):
        mo_score: "count" (default): minus the number of trials that dominate it
            (constrained domination: every feasible trial dominates an infeasible one);
            "distance": minus its IGD+ distance to the observed front (objectives scaled by
            their observed range); "count_volume": "count" plus its own scaled hypervolume;
            "chebyshev": augmented Chebyshev with a weight vector that changes at every
            rebuild (`pareto.mo_weights`).
        mo_rank: "vector" (default): a leaf's candidates are ranked by how many observed
            feasible vectors dominate their predicted vector (one ridge regressor per
            objective on the last `max_fit` trials) once `mo_rank_min` trials reported;
            "scalar": by the path regressors on the score, as with one objective.
        mo_tie: "none" (default) or "leaf": break ties of the vector ranking by the path
            regressor.
    Defaults chosen with `archsampler bench multiobjective` on the NB201 CIFAR-10 table
    (seeds 0-9, then 0-29, budget 100). With "vector" ranking the NAO predictor (trained
    on the first objective) is not used.
    """

    name = "lanas"
    multi_objective = True

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"strategy 'lanas' got unknown options {unknown}; valid options are "
                f"{sorted(DEFAULTS)}"
            )
        super().__init__(space, seed=seed)
        self.options = {**DEFAULTS, **options}
        self._check_options()
        if space.dim > MAX_FEATURES:
            raise ValueError(
                f"strategy 'lanas' handles spaces of at most {MAX_FEATURES} features (one per "
                f"int or float param, one per categorical choice); this space has {space.dim}: "
                "use 'evolution' or 'random', or fewer choices"
            )
        self.lower, self.upper = (np.asarray(b, dtype=float) for b in space.bounds())
        self.user = space.constraints()
        self.tree = self._new_tree()
        self._pending: PendingBuild | None = None
        self.rebuild_stats: dict[str, float] = {"count": 0, "max_s": 0.0, "waited_s": 0.0}
        """Rebuilds whose tree was put in use, the longest (seconds of work, all slices) and
        the total time swap-point observe calls spent finishing a sliced rebuild."""
        self._X = np.zeros((64, space.dim))
        self._y = np.zeros(64)
        self._n = 0
        self._V: np.ndarray | None = None  # objective vectors (several objectives)
        self._mo_fit: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._feasible = np.ones(64, dtype=bool)
        self._built_at = 0
        self._directions: DirectionBank | None = None  # hit-and-run directions, drawn once
        self._list: Listing | bool | None = None  # the listed space, False when unlistable
        self.selected: list[str | None] = []
        """Per proposal of the last `propose` call: the leaf UCB selected for it (None for
        a random one); benchmarks check that the proposal lies in it."""

    def _check_options(self) -> None:
        """Refuse any option outside `INT_BOUNDS` / `FLOAT_BOUNDS` / `CHOICES` (ValueError)."""
        o = self.options
        for key, (low, high) in INT_BOUNDS.items():
            v = o[key]
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ValueError(
                    f"lanas option {key!r} must be an integer in [{low}, {high}], got {v!r}"
                )
        for key, (low, high) in FLOAT_BOUNDS.items():
            v = o[key]
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            if not ok or not math.isfinite(v) or not low <= v <= high:
                raise ValueError(
                    f"lanas option {key!r} must be a number in [{low:g}, {high:g}], got {v!r}"
                )
        for key, allowed in CHOICES.items():
            if o[key] not in allowed:
                raise ValueError(
                    f"lanas option {key!r} must be one of {list(allowed)}, got {o[key]!r}"
                )

    # -- learning -------------------------------------------------------------------------
    def _observe(self, observations: Sequence[Observation]) -> None:
        multi = any(o.values is not None for o in observations) or self._V is not None
        if multi:
            new = [
                o
                for o in observations
                if o.values is not None and all(np.isfinite(v) for v in o.values)
            ]
        else:
            new = [o for o in observations if o.value is not None and np.isfinite(o.value)]
        if not new:
            return
        X = self.space.encode_many([o.arch for o in new])
        y = np.array([0.0 if multi else float(o.value) for o in new])  # type: ignore[arg-type]
        # Sums and means of values near the float limit overflow to inf/NaN and break UCB:
        # the tree sees values clipped to ±VALUE_LIMIT (order kept below it).
        np.clip(y, -VALUE_LIMIT, VALUE_LIMIT, out=y)
        while self._n + len(new) > len(self._y):
            self._X = np.vstack([self._X, np.zeros_like(self._X)])
            self._y = np.concatenate([self._y, np.zeros_like(self._y)])
            self._feasible = np.concatenate([self._feasible, np.ones_like(self._feasible)])
            if self._V is not None:
                self._V = np.vstack([self._V, np.zeros_like(self._V)])
        start = self._n
        self._X[start : start + len(new)] = X
        self._y[start : start + len(new)] = y
        if multi:
            self._add_vectors(new, start)
        self._n += len(new)
        self._relearn(start)

    def _add_vectors(self, new: Sequence[Observation], start: int) -> None:
        """Several objectives: store the vectors; each row's value in `_y` is its score on
        arrival, minus the number of earlier rows that dominate it (constrained domination:
        every feasible row dominates an infeasible one). A rebuild rescores its rows."""
        m = len(new[0].values)  # type: ignore[arg-type]
        if self._V is None:
            self._V = np.zeros((len(self._y), m))
        for i, o in enumerate(new):
            if len(o.values) != self._V.shape[1]:  # type: ignore[arg-type]
                raise ValueError(
                    f"lanas got {len(o.values)} objective values, expected "  # type: ignore[arg-type]
                    f"{self._V.shape[1]}"
                )
            row = start + i
            v = np.clip(np.asarray(o.values, dtype=float), -VALUE_LIMIT, VALUE_LIMIT)
            self._V[row] = v
            self._feasible[row] = o.feasible
            self._y[row] = self._arrival_score(row)

    def _arrival_score(self, row: int) -> float:
        """Score of row `row` among rows 0..row (a function of that prefix only)."""
        V, f = self._V[: row + 1], self._feasible[: row + 1]  # type: ignore[index]
        mode = self.options["mo_score"]
        tail = max(0, row + 1 - MO_ARRIVAL_WINDOW)  # bounded work per observation
        if mode == "distance":
            return -float(front_distances(V[tail:], f[tail:])[-1])
        if mode == "chebyshev":
            w = mo_weights(self._built_at, V.shape[1])
            return float(chebyshev_scores(V[tail:], w, f[tail:])[-1])
        score = 0.0
        if mode in ("count", "count_volume"):
            score -= float(dominated_by(V[-1], bool(f[-1]), V[:-1], f[:-1]))
        if mode in ("volume", "count_volume"):
            score += float(point_volumes(V[tail:], f[tail:])[-1])
        return score

    def _mo_scores(self, n: int) -> np.ndarray:
        """Scores of the first `n` rows for a rebuild (higher = closer to the front)."""
        V, f = self._V[:n], self._feasible[:n]  # type: ignore[index]
        mode = self.options["mo_score"]
        if mode == "distance":
            return -front_distances(V, f)
        if mode == "chebyshev":
            return chebyshev_scores(V, mo_weights(n, V.shape[1]), f)
        score = np.zeros(n)
        if mode in ("count", "count_volume"):
            score -= domination_counts(V, f)
        if mode in ("volume", "count_volume"):
            score += point_volumes(V, f)
        return score

    def _relearn(self, start: int) -> None:
        """Bring the tree up to date after rows `start.._n` were appended.

        A rebuild is due at each relearn point k (see `_relearn_gap`); its tree is used from
        the `k + _swap_delay(k)`-th observation on, with every observation from k routed
        into it. A rebuild with a delay is built in slices (`LaTree.build_steps`) from the
        first k rows: each observe call runs about `SLICE_S` seconds of it while proposals
        keep using the current tree, and the call that reaches the swap point finishes what
        is left. No thread competes with proposals, and since the tree does not depend on
        how the work was sliced, the tree in use is a function of the observations only:
        one batch (a replay after a restart) and one by one give the same tree and the same
        proposals.
        """
        n = self._n
        points = [] if self._pending is None else [self._pending.k]
        nxt = self._built_at + self._relearn_gap(self._built_at)
        while nxt <= n:
            points.append(nxt)
            self._built_at = nxt
            nxt += self._relearn_gap(nxt)
        due = [k for k in points if k + self._swap_delay(k) <= n]
        waiting = [k for k in points if k + self._swap_delay(k) > n]  # at most one
        if due:
            k = due[-1]
            pending = self._pending
            if pending is None or pending.k != k:
                pending = self._start_build(k)
            elif not pending.done:
                t0 = time.perf_counter()
                self._advance(pending, None)
                self.rebuild_stats["waited_s"] += time.perf_counter() - t0
            self._advance(pending, None)
            self._count_rebuild(pending.seconds)
            self.tree, self._pending, start = pending.tree, None, k
        for i in range(start, n):
            self.tree.add(self._X[i], float(self._y[i]))
        if waiting and (self._pending is None or self._pending.k != waiting[0]):
            self._pending = self._start_build(waiting[0])
        pending = self._pending
        if pending is not None and not pending.done:
            # At least an even share of the steps left over the calls left before the swap,
            # so a slow machine spreads the work instead of finishing it at the swap point.
            calls_left = max(1, pending.k + self._swap_delay(pending.k) - n)
            self._advance(pending, SLICE_S, -(-(pending.bound - pending.taken) // calls_left))

    def _relearn_gap(self, n_built: int) -> int:
        """Observations until the next rebuild after one with `n_built` samples."""
        o = self.options
        return max(int(o["relearn_every"]), int(np.ceil(o["relearn_growth"] * n_built)))

    def _swap_delay(self, k: int) -> int:
        """Observations after relearn point `k` before its tree is used (0 = built in line).

        Half the gap to the next relearn point (at least 1) once `k >= background_from`,
        so a rebuild is spread over many observe calls and never delays the next one.
        """
        if k < self.options["background_from"]:
            return 0
        return max(1, self._relearn_gap(k) // 2)

    def _start_build(self, n: int) -> PendingBuild:
        """A rebuild on the first `n` rows, not started yet (see `_advance`)."""
        tree = self._new_tree()
        h = int(self.options["height"])
        # Steps at most: rank targets, a fit per node, routing (per level at most one step
        # per node plus one per CHUNK rows).
        bound = 1 + 2 ** (h + 1) + (h + 1) * (2**h + n // CHUNK + 1)
        return PendingBuild(n, tree, self._build_steps(tree, n), bound)

    def _build_steps(self, tree: LaTree, n: int) -> Iterator[None]:
        """The steps of a rebuild: rank targets, then the tree's (`LaTree.build_steps`).
        Leaf centres (an LP each) stay lazy: computed for the leaves UCB selects."""
        X, y = self._X[:n], self._y[:n]  # views: rows below n never change
        if self._V is not None:  # several objectives: rescore the rows by domination
            y = self._mo_scores(n)
        target = None
        if self.options["target"] == "rank":
            target = np.empty(n)
            target[np.argsort(y, kind="stable")] = np.arange(1.0, n + 1.0) / n
            yield
        yield from tree.build_steps(X, y, target)

    @staticmethod
    def _advance(pending: PendingBuild, budget_s: float | None, min_steps: int = 1) -> None:
        """Run steps of `pending` for about `budget_s` seconds and at least `min_steps`
        steps, or all of them when `budget_s` is None."""
        t0 = time.perf_counter()
        ran = 0
        for _ in pending.steps:
            ran += 1
            if budget_s is not None and ran >= min_steps:
                if time.perf_counter() - t0 >= budget_s:
                    break
        else:
            pending.done = True
        pending.taken += ran
        pending.seconds += time.perf_counter() - t0

    def _new_tree(self) -> LaTree:
        o = self.options
        return LaTree(
            self.space.dim,
            height=int(o["height"]),
            min_samples=int(o["min_samples"]),
            ridge=float(o["ridge"]),
            max_fit=int(o["max_fit"]),
        )

    def _count_rebuild(self, seconds: float) -> None:
        stats = self.rebuild_stats
        stats["count"] += 1
        stats["max_s"] = max(stats["max_s"], seconds)

    # -- proposing ------------------------------------------------------------------------
    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        excluded = self.excluded(pending)
        if self._n < max(self.options["init_samples"], 2):
            return self.require([Proposal(a) for a in self.random_new(n, excluded)], n)
        cp, penalty = self._exploration()
        virtual: dict[str, int] = {}
        for arch in pending:
            self._visit(virtual, self.tree.route(self.space.encode(arch)))
        out: list[Proposal] = []
        pools: dict[tuple[str, str], CandidatePool] = {}  # a leaf's candidates serve a batch
        self.selected = []
        for _ in range(n):
            proposal = self._from_tree(cp, virtual, penalty, excluded, pools)
            if proposal is None:
                self.selected.append(None)
                archs = self.random_new(1, excluded)
                if not archs:
                    break
                proposal = Proposal(archs[0])
            out.append(proposal)
            self._visit(virtual, self.tree.route(self.space.encode(proposal.arch)))
        return self.require(out, n)

    def _exploration(self) -> tuple[float, float]:
        """UCB's absolute `cp` and the virtual loss of a pending visit, from the values."""
        y = self._y[: self._n]
        # Halves first: values near the float limit (±1e308) must not overflow the range.
        spread = 2.0 * float(y.max() / 2.0 - y.min() / 2.0)
        spread = min(spread, np.finfo(float).max)
        scale = spread if self.options["cp_scale"] == "range" else float(np.abs(y).max())
        return float(self.options["cp"]) * scale, float(self.options["virtual_loss"]) * spread

    def describe(self) -> list[dict[str, Any]]:
        """The tree in use, node by node (depth first, good side first): region path,
        samples, mean value and the UCB score compared at its parent (None at the root;
        values in the strategy's maximising sign)."""
        if self._n == 0:
            return []
        cp, _ = self._exploration()
        out = []
        for node in self.tree.nodes():
            ucb = None
            if node.parent is not None:
                score = ucb_score(node.mean, node.count, node.parent.count, cp)
                ucb = score if np.isfinite(score) else None
            out.append(
                {
                    "path": node.path,
                    "count": node.count,
                    "mean": node.mean if node.count else None,
                    "ucb": ucb,
                    "leaf": node.is_leaf,
                    "dry": node.dry,
                }
            )
        return out

    @property
    def uses_tree(self) -> bool:
        """Whether proposals now come from the tree (after the random start)."""
        return self._n >= max(self.options["init_samples"], 2)

    @staticmethod
    def _visit(virtual: dict[str, int], leaf: Node) -> None:
        for node in leaf.path_nodes():
            virtual[node.path] = virtual.get(node.path, 0) + 1

    def _from_tree(
        self,
        cp: float,
        virtual: dict[str, int],
        penalty: float,
        excluded: Excluded,
        pools: dict[tuple[str, str], CandidatePool],
    ) -> Proposal | None:
        """A proposal from the UCB-selected leaf; None when every leaf is dry.

        `leaf_rule: reject`: a leaf that yields no new candidate inside it is marked dry
        (until the next rebuild) and UCB selects again among the others, so every proposal
        lies in the leaf it is labelled with. `relabel`: back off towards the root instead.
        """
        while True:
            leaf = select(self.tree.root, cp, virtual, penalty)
            if leaf is None:
                return None
            self.selected.append(leaf.path)
            if self.options["leaf_rule"] == "relabel":
                return self._from_node(leaf, excluded, pools)
            proposal = self._take_from(leaf, leaf, excluded, pools)
            if proposal is not None:
                return proposal
            self.selected.pop()
            leaf.mark_dry()

    def _from_node(
        self, leaf: Node, excluded: Excluded, pools: dict[tuple[str, str], CandidatePool]
    ) -> Proposal | None:
        """Best new candidate from `leaf`'s region, backing off towards the root."""
        node: Node | None = leaf
        while node is not None:
            proposal = self._take_from(node, leaf, excluded, pools)
            if proposal is not None:
                return proposal
            node = node.parent
        return None

    def _take_from(
        self,
        node: Node,
        leaf: Node,
        excluded: Excluded,
        pools: dict[tuple[str, str], CandidatePool],
    ) -> Proposal | None:
        """The best new candidate of `node`'s region (its pool drawn once per batch)."""
        key = (node.path, leaf.path)
        if key not in pools:
            pools[key] = self._sample_region(node, leaf, excluded)
        return self._take(pools[key], node, excluded)

    def _sample_region(self, node: Node, leaf: Node, excluded: Excluded) -> CandidatePool:
        """New candidates in `node`'s region, ranked by `leaf`'s path regressors.

        A space small enough to list (`enumerate_archs`) is sampled exactly: up to
        `candidates` of the region's unseen architectures, uniformly. Otherwise
        `candidates` points are drawn in the region's polytope and decoded; decoding (e.g.
        argmax of one-hot blocks) can leave the region, so with `leaf_rule: reject` a
        decoded architecture is kept only when its own features route into `node`. When a
        draw keeps none, up to `REDRAWS` more are made, then `UNIFORM_FACTOR * candidates`
        uniform architectures of the space are filtered the same way. With `relabel` every
        decoded candidate is kept and labelled with the leaf it routes to. MCMC chains start
        at the region's centre with a burn-in of `dim` moves: latency over exact uniformity,
        since candidates are decoded, filtered and ranked anyway.
        """
        if self._listing() is not None:
            archs, keys = self._enumerated(node, excluded)
        else:
            archs, keys = self._drawn(node, excluded)
        order, predicted = self._scores(archs, leaf)
        return CandidatePool(archs, keys, order, predicted)

    def _listing(self) -> Listing | None:
        """Every architecture of the space with features and hashes, when it can be listed."""
        if self._list is None:
            archs = None if self.options["sampler"] != "auto" else self.space.enumerate_archs()
            if archs is None:
                self._list = False
            else:
                keys = [self.space.canonical_hash(a) for a in archs]
                self._list = Listing(archs, self.space.encode_many(archs), keys)
        return self._list or None

    def _enumerated(self, node: Node, excluded: Excluded) -> tuple[list[Arch], list[str]]:
        listing = self._listing()
        assert listing is not None
        inside = np.flatnonzero(node.contains(listing.X))
        rows = [i for i in inside if listing.keys[i] not in excluded]
        k = self.options["candidates"]
        if len(rows) > k:
            rows = sorted(self.rng.choice(rows, size=k, replace=False).tolist())
        return [listing.archs[i] for i in rows], [listing.keys[i] for i in rows]

    def _drawn(self, node: Node, excluded: Excluded) -> tuple[list[Arch], list[str]]:
        o = self.options
        poly = region(node, self.lower, self.upper, self.user)
        # The Chebyshev centre is an LP; a region only changes on rebuild, so cache it.
        if not node.centre_known:
            node.centre, node.centre_known = interior_point(poly), True
        if node.centre is None:
            return [], []
        method = "hit_and_run" if o["sampler"] == "auto" else o["sampler"]
        if self._directions is None and method == "hit_and_run":
            self._directions = DirectionBank(self.rng, DEFAULT_BANK, self.space.dim)
        reject = o["leaf_rule"] == "reject"
        archs: list[Arch] = []
        keys: list[str] = []
        taken: set[str] = set()
        for attempt in range(REDRAWS + 2 if reject else 1):
            if attempt <= REDRAWS:
                X = sample(
                    poly,
                    o["candidates"],
                    self.rng,
                    method=method,
                    x0=node.centre,
                    directions=self._directions,
                    start="point",
                    burn_in=None if method == "rejection" else self.space.dim,
                )
                drawn = self.space.decode_many(X)
            else:
                drawn = [
                    self.space.sample(self.rng) for _ in range(UNIFORM_FACTOR * o["candidates"])
                ]
            new = self._new(drawn, excluded, taken)
            if reject and new:
                inside = node.contains(self.space.encode_many([a for a, _ in new]))
                new = [pair for pair, ok in zip(new, inside, strict=True) if ok]
            for arch, key in new:
                taken.add(key)
                keys.append(key)
                archs.append(arch)
            if archs:
                break
        return archs, keys

    def _new(
        self, drawn: list[Arch | None], excluded: Excluded, taken: set[str]
    ) -> list[tuple[Arch, str]]:
        """Valid drawn architectures not excluded and not yet taken, first occurrence each."""
        out: list[tuple[Arch, str]] = []
        seen: set[str] = set()
        for arch in drawn:
            if arch is None:
                continue
            key = self.space.canonical_hash(arch)
            if key not in excluded and key not in taken and key not in seen:
                seen.add(key)
                out.append((arch, key))
        return out

    def _take(self, pool: CandidatePool, node: Node, excluded: Excluded) -> Proposal | None:
        """The best remaining candidate of a pool (a random one with probability `explore`)."""
        if pool.alive is None:
            pool.alive = np.array([k not in excluded for k in pool.keys], dtype=bool)
        while True:
            avail = np.flatnonzero(pool.alive)
            if not len(avail):
                return None
            if pool.order is None:
                pick = int(avail[0])
            elif self.rng.random() < self.options["explore"]:
                pick = int(avail[int(self.rng.integers(len(avail)))])
            else:
                pick = int(avail[int(np.argmax(pool.order[avail]))])
            pool.alive[pick] = False
            if pool.keys[pick] not in excluded:  # else taken through another pool: again
                break
        excluded.add(pool.keys[pick])
        arch = pool.archs[pick]
        if self.options["leaf_rule"] == "relabel":
            node = self.tree.route(self.space.encode(arch))  # the region it truly lies in
        return Proposal(arch, pool.predicted[pick], region=node.path or "root")

    def _vector_order(self, archs: list[Arch], leaf_pred: np.ndarray | None) -> np.ndarray | None:
        """Several objectives: candidates ranked by how many observed feasible vectors
        dominate their predicted vector (fewer first; ties by the leaf regressor). One ridge
        regressor per objective is fitted on the last `max_fit` rows, once per observation."""
        n = self._n
        if n < max(self.options["mo_rank_min"], 2):
            return None
        if self._mo_fit is None or self._mo_fit[0] != n:
            lo = max(0, n - int(self.options["max_fit"]))
            X, V = self._X[lo:n], self._V[lo:n]  # type: ignore[index]
            xm, vm = X.mean(axis=0), V.mean(axis=0)
            Xc = X - xm
            A = Xc.T @ Xc + float(self.options["ridge"]) * np.eye(X.shape[1])
            W = np.linalg.solve(A, Xc.T @ (V - vm))
            ref = V[self._feasible[lo:n]]
            self._mo_fit = (n, W, vm - xm @ W, ref)
        _, W, b, ref = self._mo_fit
        pred = self.space.encode_many(archs) @ W + b
        if len(ref) == 0:
            return None
        counts = np.zeros(len(archs))
        for s in range(0, len(archs), 256):
            P = pred[s : s + 256, None, :]
            dom = np.all(ref[None] >= P, axis=2) & np.any(ref[None] > P, axis=2)
            counts[s : s + 256] = dom.sum(axis=1)
        tie = 0.0
        if leaf_pred is not None and self.options["mo_tie"] == "leaf":
            tie = rankdata(leaf_pred) / (len(archs) + 1.0)
        return -counts + tie

    def _scores(
        self, archs: list[Arch], leaf: Node
    ) -> tuple[np.ndarray | None, list[float | None]]:
        """Ranking scores (higher first) and predicted values of a leaf's candidates.

        Candidates are ranked by the deepest path regressor fitted on enough samples; once
        the study has a validated NAO model, by the sum of both rankings (the model's
        prediction is then the reported value).
        """
        none: list[float | None] = [None] * len(archs)
        if not archs:
            return None, none
        ranker = None
        if self.options["rank"] == "leaf":
            for node in reversed(leaf.path_nodes()):
                if node.w is not None and node.fit_n >= self.options["rank_min"]:
                    ranker = node
                    break
        leaf_pred = None if ranker is None else ranker.predict(self.space.encode_many(archs))
        if self._V is not None and self.options["mo_rank"] == "vector":
            vector = self._vector_order(archs, leaf_pred)
            if vector is not None:
                return vector, none
        nao = None
        if self.model is not None and self.options["predictor"] == "auto":
            nao = self.model.score(archs)
        if nao is not None:
            order = nao if leaf_pred is None else rankdata(leaf_pred) + rankdata(nao)
            return order, [float(v) for v in nao]
        if leaf_pred is None:
            return None, none
        predicted = leaf_pred
        if self.options["target"] == "rank":
            y = self._y[: self._n]
            predicted = np.quantile(y, np.clip(leaf_pred, 0.0, 1.0))
        return leaf_pred, [float(v) for v in predicted]


@dataclass
class PendingBuild:
    """A rebuild at relearn point `k`, run in slices: its steps, the tree they fill in, an
    upper bound on the number of steps, the steps and time spent so far, whether done."""

    k: int
    tree: LaTree
    steps: Iterator[None]
    bound: int
    taken: int = 0
    seconds: float = 0.0
    done: bool = False


@dataclass
class Listing:
    """A listed space: its architectures, their feature rows and canonical hashes."""

    archs: list[Arch]
    X: np.ndarray
    keys: list[str]


@dataclass
class CandidatePool:
    """Decoded, new candidates of one region, ranked once and shared by a whole batch."""

    archs: list[Arch]
    keys: list[str]
    order: np.ndarray | None
    predicted: list[float | None]
    alive: np.ndarray | None = None
    """Candidates not yet excluded (set on the first take; a take clears its pick), so a
    batch of n proposals from a pool of m candidates costs O(n·m) in numpy, not Python."""
