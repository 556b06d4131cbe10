"""AlphaX (Wang et al., AAAI 2020): MCTS over the space's decisions, one tree level per
token of `SearchSpace.to_tokens`, UCB selection, predictor-assisted simulation and the
paper's distributed back-propagation (pending trials count with their predicted value)."""

from __future__ import annotations

import itertools
import math
from typing import Any
from typing import Callable
from typing import Sequence

import numpy as np

from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.strategies.base import Excluded
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy
from archsampler.strategies.base import UsesModel
from archsampler.strategies.mcts_common import PREDICTOR_MODES
from archsampler.strategies.mcts_common import TARGETS
from archsampler.strategies.mcts_common import VALUE_LIMIT
from archsampler.strategies.mcts_common import GramRidge
from archsampler.strategies.mcts_common import PairFeatures
from archsampler.strategies.mcts_common import Ridge
from archsampler.strategies.mcts_common import check_options
from archsampler.strategies.mcts_common import from_target
from archsampler.strategies.mcts_common import targets
from archsampler.strategies.mcts_common import to_target

PAPER_C = 0.5
"""The AlphaX paper's exploration constant c in `Q/N + 2c sqrt(2 ln N(s) / N(s, a))`."""
TUNED_C = 0.1
"""The default c: tuned on the NAS-Bench-201 CIFAR-10 table (20 seeds, budget 1,000)."""
DEFAULTS: dict[str, Any] = {
    "c": TUNED_C,
    "rollouts": 20,
    "min_fit": 10,
    "ridge": 1.0,
    "pairs": False,
    "prior": 1.0,
    "target": "rank",
    "predictor": "auto",
    "dispatch": "best",
    "expand": "predicted",
}
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "rollouts": (1, 1000),
    "min_fit": (2, 100_000),
}
"""Inclusive bounds of the integer options: every value keeps a Propose bounded."""
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "c": (0.0, 100.0),
    "ridge": (1e-6, 1e6),
    "prior": (0.0, 1000.0),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "target": TARGETS,
    "predictor": PREDICTOR_MODES,
    "dispatch": ("best", "first"),
    "pairs": (True, False),
    "expand": ("predicted", "uniform"),
}
GRAM_MAX = 1024
"""Feature widths up to this are fitted from running sums on every trial (O(d³) a fit)."""
DUAL_ROWS = 1000
"""Wider ones: the dual ridge form on the latest this many successful trials."""
REDRAWS = 3
"""Extra batches of `rollouts` random completions when a batch has nothing new."""
DECODE_CACHE = 100_000
"""Decoded token sequences kept (cleared beyond this); decoding does not depend on state."""
MAX_WALKS = 256
"""Tree walks per proposal before falling back to a uniformly random new architecture."""


class AlphaXStrategy(UsesModel, Strategy):
    """Monte-Carlo tree search over token sequences (AlphaX).

    A node is a prefix of the space's token sequence (`token_spec`): depth d chooses the
    token of position d among those `masks[d]` allows, and a full sequence is a leaf. Each
    proposal walks from the root. Selection: at a node whose allowed children have all
    been visited, UCB picks `argmax Q/N + 2c sqrt(2 ln N(s) / N(s, a))` (the paper's Eq. 1).
    Expansion and simulation: at a node with unvisited children, `rollouts` random
    completions are drawn whose next token is an unvisited child (all of them when there
    are fewer), the valid new ones are kept (`from_tokens`, canonical hash) and the one
    the predictor ranks best is dispatched (`dispatch: best`; "first" takes the first, as
    the paper trains its first simulation); the expanded node is the child it lies in
    (`expand: predicted`; "uniform" expands a uniformly drawn unvisited child first, the
    textbook order). A walk that finds nothing new marks those children dead for the call.

    Rewards: an observed architecture adds its reward (`target`: the value's rank quantile
    or min-max value, in [0, 1]; failed trials 0) to every node on its path. The paper's
    distributed scheme: a pending architecture (proposed, not yet reported, including the
    earlier proposals of the same batch) adds its *predicted* reward instead; when it is
    reported the prediction is replaced by the true reward. So parallel trainers get
    different proposals, steered by what the predictor expects of the ones in flight.

    The predictor is the study's NAO model once it validates (`UsesModel`, `predictor:
    auto`), otherwise ridge regression on one-hot tokens fitted on the observed rewards
    (from `min_fit` successful trials on), optionally with token-pair interactions
    (`pairs`, when the space has at most `MAX_PAIRS` of them: see `PairFeatures`; off by
    default: slower, and not better on NAS-Bench-201 at 20 seeds). Before either exists,
    pending trials count with the mean observed reward.

    The paper's Eq. 2 values a new node by `(Acc + mean Pred(simulations)) / 2`, so one
    unlucky first trial does not bury a branch. Here UCB's exploitation term is
    `(W + p * P(s')) / (N + p)`: P(s') the ridge model's mean prediction over the uniform
    completions of the child's prefix (exact for the linear model, `PrefixPrior`) and
    p = `prior` (1: the paper's equal weight at the first visit; 0: plain W / N).

    Exploration: the paper sets c = 0.5 (`PAPER_C`) for rewards that are accuracies; the
    default here, 0.1, was tuned on the NAS-Bench-201 CIFAR-10 table, as were `prior`
    and `rollouts` (with c = 0.5 the search is mostly breadth: see the README).

    Restart: the tree statistics are a function of the observations (in order) and the
    pending list; the fit is redone at each call from the observations; so a rebuilt
    strategy (observe everything, then propose) proposes what the original would have
    with the same generator state. Options are bounded (`INT_BOUNDS`, `FLOAT_BOUNDS`,
    `CHOICES`); a value outside is a ValueError naming the bound.
    """

    name = "alphax"

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        self.options = check_options(
            "alphax", options, DEFAULTS, INT_BOUNDS, FLOAT_BOUNDS, CHOICES
        )
        super().__init__(space, seed=seed)
        masks = np.asarray(space.token_spec().masks, dtype=bool)
        self.allowed: list[list[int]] = [np.flatnonzero(row).tolist() for row in masks]
        self.length = len(self.allowed)
        self.children: list[dict[int, int]] = [{}]  # node id -> token -> child id (0 = root)
        self.paths = np.zeros((64, self.length), dtype=np.int64)
        self.values = np.zeros(64)
        self.ok = np.zeros(64, dtype=bool)
        self.vocab = masks.shape[1]
        self.pairs = PairFeatures(masks) if self.options["pairs"] else None
        width = self.length * self.vocab + (0 if self.pairs is None else self.pairs.width)
        self._prior: tuple[int, PrefixPrior | None] = (-1, None)
        self.X = np.zeros((64, width))
        self.gram = GramRidge(width) if width <= GRAM_MAX else None
        self.n = 0
        self.visits = np.zeros(64)  # observed visits per node
        self._fit: tuple[int, Ridge | None] = (-1, None)
        self._rewards: tuple[int, np.ndarray] = (-1, np.zeros(0))
        self._decoded: dict[tuple[int, ...], tuple[Arch, str] | None] = {}
        """Token sequence -> (architecture, canonical hash) or None: a cache of decodes."""

    # -- tree -----------------------------------------------------------------------------
    def node_path(self, tokens: Sequence[int]) -> list[int]:
        """Node ids of the prefixes of `tokens` (lengths 1..L), created when missing."""
        node, out = 0, []
        for t in tokens:
            child = self.children[node].get(t)
            if child is None:
                child = len(self.children)
                self.children.append({})
                self.children[node][t] = child
            node = child
            out.append(node)
        if len(self.children) > len(self.visits):
            self.visits = np.concatenate([self.visits, np.zeros(len(self.children))])
        return out

    def stats(self, pending: Sequence[Arch] = ()) -> tuple[np.ndarray, np.ndarray]:
        """(N, W) per node id: visits and reward sums of the observations plus `pending`,
        which count with their predicted reward (what `propose` uses)."""
        N, W = self._observed_stats()
        if pending:
            q = self._pending_rewards(list(pending))
            for arch, reward in zip(pending, q, strict=True):
                N, W = self._grow(N, W)
                ids = self.node_path(self.space.to_tokens(arch))
                N, W = self._grow(N, W)
                N[ids] += 1
                N[0] += 1
                W[ids] += reward
                W[0] += reward
        return N, W

    def _observed_stats(self) -> tuple[np.ndarray, np.ndarray]:
        size = len(self.children)
        q = self.rewards()
        W = np.bincount(
            self.paths[: self.n].ravel(), weights=np.repeat(q, self.length), minlength=size
        )[:size].astype(float)
        W[0] = q.sum()
        N = self.visits[:size].copy()
        N[0] = self.n
        return N, W

    def _grow(self, N: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        extra = len(self.children) - len(N)
        if extra <= 0:
            return N, W
        pad = np.zeros(extra + 64)
        return np.concatenate([N, pad]), np.concatenate([W, pad])

    def rewards(self) -> np.ndarray:
        """The reward in [0, 1] of each observation (see `target`); computed once per n."""
        if self._rewards[0] != self.n:
            kind = self.options["target"]
            self._rewards = (self.n, targets(self.values[: self.n], self.ok[: self.n], kind))
        return self._rewards[1]

    # -- learning -------------------------------------------------------------------------
    def _observe(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            if self.n == len(self.values):
                self.paths = np.concatenate([self.paths, np.zeros_like(self.paths)])
                self.values = np.concatenate([self.values, np.zeros_like(self.values)])
                self.ok = np.concatenate([self.ok, np.zeros_like(self.ok)])
                self.X = np.concatenate([self.X, np.zeros_like(self.X)])
            ids = self.node_path(self.space.to_tokens(obs.arch))
            self.paths[self.n] = ids
            self.visits[ids] += 1
            good = obs.value is not None and math.isfinite(obs.value)
            self.ok[self.n] = good
            if good:
                self.values[self.n] = float(np.clip(obs.value, -VALUE_LIMIT, VALUE_LIMIT))
                self.X[self.n] = self.features([obs.arch])[0]
                if self.gram is not None:
                    self.gram.add(self.X[self.n : self.n + 1])
            self.n += 1

    # -- prediction -----------------------------------------------------------------------
    def predictor(self) -> Callable[[list[Arch]], np.ndarray] | None:
        """Predicted rewards of architectures (reward scale), or None before any model."""
        values = self.values[: self.n][self.ok[: self.n]]
        kind = self.options["target"]
        if self.model is not None and self.options["predictor"] == "auto":
            model = self.model

            def nao(archs: list[Arch]) -> np.ndarray:
                return to_target(np.asarray(model.score(archs), dtype=float), values, kind)

            return nao
        if self._fit[0] != self.n:
            self._fit = (self.n, self._ridge())
        ridge = self._fit[1]
        if ridge is None:
            return None
        return lambda archs: ridge.predict(self.features(archs))

    def features(self, archs: list[Arch]) -> np.ndarray:
        """The ridge predictor's inputs: one-hot tokens (`to_tokens`, length x vocab) plus
        token-pair one-hots (`pairs`)."""
        T = np.array([self.space.to_tokens(a) for a in archs], dtype=np.int64)
        T = T.reshape(len(archs), self.length)
        X = np.zeros((len(archs), self.length * self.vocab))
        X[np.arange(len(archs))[:, None], np.arange(self.length) * self.vocab + T] = 1.0
        if self.pairs is None or not self.pairs.width:
            return X
        P = np.array([self.pairs.row(t) for t in T.tolist()])
        return np.hstack([X, P.reshape(len(archs), self.pairs.width)])

    def prior(self) -> PrefixPrior | None:
        """The ridge predictor's mean over uniform completions of a prefix (see `_walk`)."""
        if self.options["prior"] == 0 or self.predictor() is None:
            return None
        ridge = self._fit[1]
        if ridge is None:
            return None
        if self._prior[0] != self.n:
            self._prior = (self.n, PrefixPrior(ridge, self.allowed, self.vocab, self.pairs))
        return self._prior[1]

    def _ridge(self) -> Ridge | None:
        rows = np.flatnonzero(self.ok[: self.n])
        if len(rows) < self.options["min_fit"]:
            return None
        y = self.rewards()[rows]
        penalty = float(self.options["ridge"])
        if self.gram is not None:  # every successful row, from running sums
            return self.gram.fit(self.X[rows], y, penalty)
        rows, y = rows[-DUAL_ROWS:], y[-DUAL_ROWS:]
        return Ridge(penalty).fit(self.X[rows], y)

    def _pending_rewards(self, archs: list[Arch]) -> np.ndarray:
        predict = self.predictor()
        if predict is not None:
            return np.clip(predict(archs), 0.0, 1.0)
        mean = float(self.rewards().mean()) if self.n else 0.5
        return np.full(len(archs), mean)

    # -- proposing ------------------------------------------------------------------------
    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        excluded = self.excluded(pending)
        N, W = self.stats(pending)
        predict = self.predictor()
        fallback = float(self.rewards().mean()) if self.n else 0.5
        out: list[Proposal] = []
        for _ in range(n):
            found = self._walk(N, W, excluded, predict)
            if found is None:
                archs = self.random_new(1, excluded)
                if not archs:
                    break
                arch = archs[0]
                q = float(predict([arch])[0]) if predict is not None else fallback
                found = (arch, q, "random")
            arch, q, region = found
            N, W = self._grow(N, W)
            ids = self.node_path(self.space.to_tokens(arch))
            N, W = self._grow(N, W)
            q = float(np.clip(q, 0.0, 1.0))
            N[ids] += 1
            N[0] += 1
            W[ids] += q
            W[0] += q
            out.append(Proposal(arch, self._value_of(q, predict), region=region))
        return self.require(out, n)

    def _value_of(self, q: float, predict: Callable[..., np.ndarray] | None) -> float | None:
        if predict is None:
            return None
        values = self.values[: self.n][self.ok[: self.n]]
        return float(from_target(np.array([q]), values, self.options["target"])[0])

    def _walk(
        self,
        N: np.ndarray,
        W: np.ndarray,
        excluded: Excluded,
        predict: Callable[[list[Arch]], np.ndarray] | None,
    ) -> tuple[Arch, float, str] | None:
        """Selection, expansion and simulation: a new architecture with its predicted
        reward and the prefix the simulation started from; None when none is found."""
        dead: set[tuple[int, ...]] = set()
        c = float(self.options["c"])
        prior = self.prior()
        weight = float(self.options["prior"])
        for _ in range(MAX_WALKS):
            prefix: tuple[int, ...] = ()
            node = 0
            while True:
                if len(prefix) == self.length:  # a visited leaf: evaluated or pending
                    dead.add(prefix)
                    break
                acts = [a for a in self.allowed[len(prefix)] if prefix + (a,) not in dead]
                if not acts:
                    dead.add(prefix)
                    break
                kids = self.children[node]
                counts = [N[kids[a]] if a in kids and kids[a] < len(N) else 0.0 for a in acts]
                unvisited = [a for a, k in zip(acts, counts, strict=True) if k <= 0]
                if unvisited:
                    if self.options["expand"] == "uniform":
                        unvisited = [unvisited[int(self.rng.integers(len(unvisited)))]]
                    found = self._simulate(prefix, unvisited, excluded, predict)
                    if found is not None:
                        arch, q = found
                        start = prefix + (self.space.to_tokens(arch)[len(prefix)],)
                        return arch, q, _region(start)
                    dead.update(prefix + (a,) for a in unvisited)
                    visited = [a for a, k in zip(acts, counts, strict=True) if k > 0]
                    if not visited:
                        dead.add(prefix)
                        break
                    counts = [k for k in counts if k > 0]
                    acts = visited
                total = math.log(max(float(N[node]), 1.0))
                best, best_score = acts[0], -math.inf
                for a, k in zip(acts, counts, strict=True):
                    w = W[kids[a]]
                    if prior is not None:  # Eq. 2: actual rewards blended with predictions
                        w, k = w + weight * prior.value(prefix + (a,)), k + weight
                    score = w / k + 2.0 * c * math.sqrt(2.0 * total / k)
                    if score > best_score:
                        best, best_score = a, score
                prefix += (best,)
                node = kids[best]
            if () in dead:
                return None
        return None

    def _simulate(
        self,
        prefix: tuple[int, ...],
        first: list[int],
        excluded: Excluded,
        predict: Callable[[list[Arch]], np.ndarray] | None,
    ) -> tuple[Arch, float] | None:
        """Random completions of `prefix` whose next token is in `first` (the unvisited
        children: the expansion is the child holding the chosen completion); the best
        predicted valid new one (or the first)."""
        rest = [first, *self.allowed[len(prefix) + 1 :]]
        k = int(self.options["rollouts"])
        total = math.prod(len(r) for r in rest)
        for _ in range(REDRAWS + 1):
            if total <= k:
                seqs = [prefix + tail for tail in itertools.product(*rest)]
            else:
                cols = [np.asarray(r)[self.rng.integers(len(r), size=k)] for r in rest]
                seqs = [prefix + tuple(int(v) for v in row) for row in zip(*cols, strict=True)]
            archs = self._new(seqs, excluded)
            if archs:
                break
            if total <= k:
                return None
        else:
            return None
        if predict is None or self.options["dispatch"] == "first":
            pick = 0
            q = float(predict([archs[0][0]])[0]) if predict is not None else self._mean()
        else:
            scores = predict([a for a, _ in archs])
            pick = int(np.argmax(scores))
            q = float(scores[pick])
        arch, key = archs[pick]
        excluded.add(key)
        return arch, q

    def _mean(self) -> float:
        return float(self.rewards().mean()) if self.n else 0.5

    def _new(self, seqs: list[tuple[int, ...]], excluded: Excluded) -> list[tuple[Arch, str]]:
        out: list[tuple[Arch, str]] = []
        keys: set[str] = set()
        cache = self._decoded
        if len(cache) > DECODE_CACHE:
            cache.clear()
        for seq in seqs:
            if seq in cache:
                hit = cache[seq]
            else:
                arch = self.space.from_tokens(list(seq))
                hit = cache[seq] = (
                    None if arch is None else (arch, self.space.canonical_hash(arch))
                )
            if hit is None:
                continue
            arch, key = hit
            if key not in excluded and key not in keys:
                keys.add(key)
                out.append((arch, key))
        return out


class PrefixPrior:
    """The mean prediction of a linear model on token one-hots and token pairs over the
    uniform completions of a prefix, in O(length + pairs) per prefix (exact for the model;
    completions that do not decode are not excluded)."""

    def __init__(
        self, ridge: Ridge, allowed: list[list[int]], vocab: int, pairs: PairFeatures | None
    ) -> None:
        assert ridge.w is not None and ridge.mean_x is not None
        length = len(allowed)
        w = ridge.w
        self.const = ridge.mean_y - float(ridge.mean_x @ w)
        w1 = w[: length * vocab].reshape(length, vocab)
        self.unary = [w1[i] for i in range(length)]
        self.unary_mean = [float(w1[i, allowed[i]].mean()) for i in range(length)]
        self.blocks: list[tuple[int, int, np.ndarray, dict[int, int], dict[int, int]]] = []
        if pairs is not None and pairs.width:
            base_w = w[length * vocab :]
            for (i, j), base in pairs.offsets.items():
                ni, nj = len(pairs.lookup[i]), len(pairs.lookup[j])
                block = base_w[base : base + ni * nj].reshape(ni, nj)
                self.blocks.append((i, j, block, pairs._pos[i], pairs._pos[j]))

    def value(self, prefix: tuple[int, ...]) -> float:
        d = len(prefix)
        v = self.const
        for i, t in enumerate(prefix):
            v += float(self.unary[i][t])
        v += sum(self.unary_mean[d:])
        for i, j, block, pi, pj in self.blocks:
            if j < d:
                v += float(block[pi[prefix[i]], pj[prefix[j]]])
            elif i < d:
                v += float(block[pi[prefix[i]]].mean())
            else:
                v += float(block.mean())
        return min(1.0, max(0.0, v))


def _region(prefix: tuple[int, ...]) -> str:
    """The label of a proposal: the tree prefix its simulation started from."""
    return "alphax:" + ".".join(str(t) for t in prefix)
