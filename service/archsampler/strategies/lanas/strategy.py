"""LaNAS: learned action space (tree of linear regressors) + UCB + sampling in leaf polytopes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

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
from archsampler.strategies.lanas.tree import LaTree
from archsampler.strategies.lanas.tree import Node
from archsampler.strategies.lanas.tree import region
from archsampler.strategies.lanas.ucb import select

DEFAULTS: dict[str, Any] = {
    "height": 5,
    "cp": 0.1,
    "init_samples": 20,
    "min_samples": 5,
    "relearn_every": 1,
    "sampler": "hit_and_run",
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
}
SAMPLERS = ("hit_and_run", "gibbs", "rejection")
RANKERS = ("leaf", "none")
PREDICTOR_MODES = ("auto", "off")
TARGETS = ("value", "rank")


class LaNASStrategy(UsesModel, Strategy):
    """Latent Action NAS over a space's real feature vectors.

    Each proposal: UCB walks the tree to a leaf, `candidates` points are drawn in the leaf's
    polytope, decoded to valid unseen architectures and ranked by the leaf's regressor
    (falling back to the parent region, up to the root, then uniform random). Pending
    architectures count as visits with a virtual loss. The defaults (`DEFAULTS`) are the
    best configuration measured on NAS-Bench-201 with budgets up to 1,000.

    Options (all optional):
        height: maximum tree depth (leaves are at most `height` splits from the root).
        cp: UCB exploration constant, relative to the observed value range
            (the absolute constant is `cp * (max - min)` of observed values).
        init_samples: uniformly random proposals before the tree is used.
        min_samples: a node splits only when both children get at least this many samples.
        relearn_every: rebuild the tree every k observations; in between, new samples are
            routed into the current leaves.
        relearn_growth: with many observations, rebuild only once the data has grown by
            this fraction since the last rebuild (keeps the amortised cost flat).
        sampler: polytope sampler for leaf candidates: "hit_and_run", "gibbs", "rejection".
        candidates: points drawn in the selected leaf per proposal.
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
    """

    name = "lanas"

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
        o = self.options
        self.lower, self.upper = (np.asarray(b, dtype=float) for b in space.bounds())
        self.user = space.constraints()
        self.tree = LaTree(
            space.dim,
            height=int(o["height"]),
            min_samples=int(o["min_samples"]),
            ridge=float(o["ridge"]),
            max_fit=int(o["max_fit"]),
        )
        self._X = np.zeros((64, space.dim))
        self._y = np.zeros(64)
        self._n = 0
        self._built_at = 0
        self._directions: DirectionBank | None = None  # hit-and-run directions, drawn once

    def _check_options(self) -> None:
        o = self.options
        ints = ("height", "init_samples", "min_samples", "relearn_every", "candidates")
        for key in (*ints, "rank_min", "max_fit"):
            low = 0 if key in ("init_samples", "rank_min") else 1
            if isinstance(o[key], bool) or not isinstance(o[key], int) or o[key] < low:
                raise ValueError(
                    f"lanas option {key!r} must be an integer >= {low}, got {o[key]!r}"
                )
        if o["sampler"] not in SAMPLERS:
            raise ValueError(f"lanas option 'sampler' must be one of {list(SAMPLERS)}")
        if o["predictor"] not in PREDICTOR_MODES:
            raise ValueError(f"lanas option 'predictor' must be one of {list(PREDICTOR_MODES)}")
        if o["rank"] not in RANKERS:
            raise ValueError(f"lanas option 'rank' must be one of {list(RANKERS)}")
        if o["target"] not in TARGETS:
            raise ValueError(f"lanas option 'target' must be one of {list(TARGETS)}")
        for key in ("cp", "ridge", "explore", "virtual_loss", "relearn_growth"):
            if float(o[key]) < 0:
                raise ValueError(f"lanas option {key!r} must be >= 0, got {o[key]!r}")

    # -- learning -------------------------------------------------------------------------
    def _observe(self, observations: Sequence[Observation]) -> None:
        new = [o for o in observations if o.value is not None and np.isfinite(o.value)]
        if not new:
            return
        X = self.space.encode_many([o.arch for o in new])
        y = np.array([float(o.value) for o in new])  # type: ignore[arg-type]
        while self._n + len(new) > len(self._y):
            self._X = np.vstack([self._X, np.zeros_like(self._X)])
            self._y = np.concatenate([self._y, np.zeros_like(self._y)])
        start = self._n
        self._X[start : start + len(new)] = X
        self._y[start : start + len(new)] = y
        self._n += len(new)
        # Replaying in one batch must give the same tree as one-by-one: rebuild at the last
        # relearn point inside the batch, then route what follows it.
        last = None
        nxt = self._built_at + self._relearn_gap(self._built_at)
        while nxt <= self._n:
            last, self._built_at = nxt, nxt
            nxt += self._relearn_gap(nxt)
        if last is not None and last > start:
            self._rebuild(last)
            start = last
        for i in range(start, self._n):
            self.tree.add(self._X[i], float(self._y[i]))

    def _relearn_gap(self, n_built: int) -> int:
        """Observations until the next rebuild after one with `n_built` samples."""
        o = self.options
        return max(int(o["relearn_every"]), int(np.ceil(o["relearn_growth"] * n_built)))

    def _rebuild(self, n: int) -> None:
        y = self._y[:n]
        target = None
        if self.options["target"] == "rank":
            target = (np.argsort(np.argsort(y, kind="stable"), kind="stable") + 1.0) / n
        self.tree.build(self._X[:n], y, target)

    # -- proposing ------------------------------------------------------------------------
    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        excluded = self.excluded(pending)
        if self._n < max(self.options["init_samples"], 2):
            return self.require([Proposal(a) for a in self.random_new(n, excluded)], n)
        y = self._y[: self._n]
        spread = float(y.max() - y.min())
        cp = float(self.options["cp"]) * spread
        penalty = float(self.options["virtual_loss"]) * spread
        virtual: dict[str, int] = {}
        for arch in pending:
            self._visit(virtual, self.tree.route(self.space.encode(arch)))
        out: list[Proposal] = []
        pools: dict[tuple[str, str], CandidatePool] = {}  # a leaf's candidates serve a batch
        for _ in range(n):
            leaf = select(self.tree.root, cp, virtual, penalty)
            proposal = self._from_node(leaf, excluded, pools)
            if proposal is None:
                archs = self.random_new(1, excluded)
                if not archs:
                    break
                proposal = Proposal(archs[0])
            out.append(proposal)
            self._visit(virtual, self.tree.route(self.space.encode(proposal.arch)))
        return self.require(out, n)

    @staticmethod
    def _visit(virtual: dict[str, int], leaf: Node) -> None:
        for node in leaf.path_nodes():
            virtual[node.path] = virtual.get(node.path, 0) + 1

    def _from_node(
        self, leaf: Node, excluded: Excluded, pools: dict[tuple[str, str], CandidatePool]
    ) -> Proposal | None:
        """Best new candidate from `leaf`'s region, backing off towards the root."""
        node: Node | None = leaf
        while node is not None:
            key = (node.path, leaf.path)
            if key not in pools:
                pools[key] = self._sample_region(node, leaf, excluded)
            proposal = self._take(pools[key], node, excluded)
            if proposal is not None:
                return proposal
            node = node.parent
        return None

    def _sample_region(self, node: Node, leaf: Node, excluded: Excluded) -> CandidatePool:
        """Draw `candidates` points in `node`'s region, decode, keep new ones, rank them."""
        o = self.options
        poly = region(node, self.lower, self.upper, self.user)
        # The Chebyshev centre is an LP; a region only changes on rebuild, so cache it.
        if not node.centre_known:
            node.centre, node.centre_known = interior_point(poly), True
        if node.centre is None:
            return CandidatePool([], [], None, [])
        if self._directions is None and o["sampler"] == "hit_and_run":
            self._directions = DirectionBank(self.rng, DEFAULT_BANK, self.space.dim)
        X = sample(
            poly,
            o["candidates"],
            self.rng,
            method=o["sampler"],
            x0=node.centre,
            directions=self._directions,
        )
        archs: list[Arch] = []
        keys: list[str] = []
        taken: set[str] = set()
        for arch in self.space.decode_many(X):
            if arch is None:
                continue
            key = self.space.canonical_hash(arch)
            if key not in excluded and key not in taken:
                taken.add(key)
                keys.append(key)
                archs.append(arch)
        order, predicted = self._scores(archs, leaf)
        return CandidatePool(archs, keys, order, predicted)

    def _take(self, pool: CandidatePool, node: Node, excluded: Excluded) -> Proposal | None:
        """The best remaining candidate of a pool (a random one with probability `explore`)."""
        avail = [i for i, k in enumerate(pool.keys) if k not in excluded]
        if not avail:
            return None
        if pool.order is None:
            pick = avail[0]
        elif self.rng.random() < self.options["explore"]:
            pick = avail[int(self.rng.integers(len(avail)))]
        else:
            pick = avail[int(np.argmax(pool.order[avail]))]
        excluded.add(pool.keys[pick])
        return Proposal(pool.archs[pick], pool.predicted[pick], region=node.path or "root")

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
class CandidatePool:
    """Decoded, new candidates of one region, ranked once and shared by a whole batch."""

    archs: list[Arch]
    keys: list[str]
    order: np.ndarray | None
    predicted: list[float | None]
