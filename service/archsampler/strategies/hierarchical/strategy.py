"""MCTS on a learned hierarchy (Roshtkhari et al., "Monte-Carlo tree search with learned
hierarchical branching"): a binary tree from agglomerative clustering of architectures,
Boltzmann sampling among siblings with UCT rewards, re-clustered as trials arrive."""

from __future__ import annotations

import math
from typing import Any
from typing import Sequence

import numpy as np
from scipy.cluster.hierarchy import linkage

from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.strategies.base import Excluded
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy
from archsampler.strategies.mcts_common import TARGETS
from archsampler.strategies.mcts_common import VALUE_LIMIT
from archsampler.strategies.mcts_common import Ridge
from archsampler.strategies.mcts_common import check_options
from archsampler.strategies.mcts_common import targets

PAPER_LAMBDA = 0.5
"""The paper's UCT exploration weight λ in `R = C + λ sqrt(log |parent| / |node|)`."""
LINKAGES = ("average", "complete", "single", "ward")
DEFAULTS: dict[str, Any] = {
    "exploration": 0.1,
    "temperature": 0.01,
    "init_samples": 20,
    "max_cluster": 256,
    "recluster_every": 10,
    "linkage": "average",
    "target": "rank",
    "window": 2000,
    "neighbours": 8,
}
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "init_samples": (2, 100_000),
    "window": (1, 100_000),
    "neighbours": (1, 1000),
    "max_cluster": (2, 1024),
    "recluster_every": (1, 100_000),
}
"""Inclusive bounds of the integer options. `max_cluster` bounds the quadratic clustering
(1,024 leaves: ~0.5 M distances), so a re-cluster stays a few milliseconds."""
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "exploration": (0.0, 100.0),
    "temperature": (1e-4, 100.0),
}
CHOICES: dict[str, tuple[str, ...]] = {"linkage": LINKAGES, "target": TARGETS}
MIN_FIT = 10
"""Successful trials before the ridge predictor ranks a leaf's neighbours."""
MAX_FIT = 2000
"""The ridge predictor is fitted on the latest this many successful trials."""
MAX_DESCENTS = 64
"""Descents per proposal (a leaf with no new neighbour is dead for the call) before a
uniformly random new architecture is proposed instead."""


class HierarchicalStrategy(Strategy):
    """MCTS over a binary tree learned by agglomerative clustering of evaluated architectures.

    Distances are L2 between *signatures*: the output vector of the trained network on one
    fixed mini-batch, which a trainer reports in the `signature` metadata key (the paper's
    distance). When some clustered trial has none (or lengths differ), every distance is
    taken between the space's encodings (`SearchSpace.encode`) instead.

    Tree: every `recluster_every` observations (from `init_samples` on) the first K
    observations (K the multiple of `recluster_every` reached) are re-clustered: at most
    `max_cluster` successful ones (all when fewer; else the best half by value plus an
    even spread over the rest by rank), `linkage` (scipy) giving a binary tree whose
    leaves are those architectures. The clustered observations and the latest `window`
    ones are assigned to their nearest leaf (signature when both have one, else encoding),
    later ones as they arrive; the node statistics count the assigned observations (a
    recent window, as the paper's smoothed reward favours recent visits). The tree in
    use is therefore a function of the observations alone: replaying them (restart)
    rebuilds the same tree, in one batch or one by one. Cost per re-cluster: O(m²) for
    m ≤ `max_cluster` leaves plus O(`window`·m) for the assignment, every
    `recluster_every` trials: the paper's quadratic cost is bounded by `max_cluster`,
    not by the study's size (the latency bench times it at 1,000 and 10,000 trials).

    Proposal: from the root, one child of each node is drawn with Boltzmann probabilities
    `exp(R/T) / Σ_siblings exp(R/T)` (T = `temperature`), R the UCT reward
    `C + λ sqrt(log |parent| / |node|)` (λ = `exploration`, 0.5 in the paper), C the mean
    reward (`target`: rank quantile or min-max value in [0, 1]) of the observations
    assigned below the node and |·| their count. At the leaf, the proposal is a new valid
    architecture one token away from the leaf's (`to_tokens` / `from_tokens`): up to
    `neighbours` such changes are drawn uniformly among those `token_spec().masks`
    allows, and the one a ridge regression of the rewards on the encodings ranks best is
    taken (1: the first drawn, no model). The paper's tree has every architecture of the
    space as a leaf; here leaves are evaluated architectures and new ones are their
    neighbours. A leaf with none left is dead for the call and the descent restarts.
    Pending architectures (and earlier ones of the batch) count as visits of their nearest
    leaf with that leaf's mean reward, so parallel trainers are spread. Before
    `init_samples` observations, proposals are uniform.

    Defaults: λ = 0.1, T = 0.01 and 8 ranked neighbours were tuned on the NAS-Bench-201
    CIFAR-10 table (20 seeds, budget 1,000); the paper's λ = 0.5 (`PAPER_LAMBDA`)
    explores more (see the README's search table).
    Options are bounded (`INT_BOUNDS`, `FLOAT_BOUNDS`, `CHOICES`): ValueError otherwise.
    """

    name = "hierarchical"

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        self.options = check_options(
            "hierarchical", options, DEFAULTS, INT_BOUNDS, FLOAT_BOUNDS, CHOICES
        )
        super().__init__(space, seed=seed)
        self._masks = np.asarray(space.token_spec().masks, dtype=bool)
        self.archs: list[Arch] = []
        self.signatures: list[np.ndarray | None] = []
        self.X = np.zeros((64, space.dim))
        self.values = np.zeros(64)
        self.ok = np.zeros(64, dtype=bool)
        self.assign = np.full(64, -1, dtype=np.int64)
        """Each observation's leaf; -1 when outside the statistics' window."""
        self.n = 0
        self.built_at = 0
        self.tree: ClusterTree | None = None
        self.reclusters = 0
        self._fit: tuple[int, Ridge | None] = (-1, None)

    # -- learning -------------------------------------------------------------------------
    def _observe(self, observations: Sequence[Observation]) -> None:
        start = self.n
        for obs in observations:
            if self.n == len(self.values):
                self.X = np.concatenate([self.X, np.zeros_like(self.X)])
                self.values = np.concatenate([self.values, np.zeros_like(self.values)])
                self.ok = np.concatenate([self.ok, np.zeros_like(self.ok)])
                self.assign = np.concatenate([self.assign, np.full_like(self.assign, -1)])
            good = obs.value is not None and math.isfinite(obs.value)
            self.ok[self.n] = good
            self.values[self.n] = (
                float(np.clip(obs.value, -VALUE_LIMIT, VALUE_LIMIT)) if good else 0.0
            )
            self.X[self.n] = self.space.encode(obs.arch)
            sig = getattr(obs, "signature", None)
            # float32: 10,000 signatures of 1,024 numbers hold 40 MB.
            self.signatures.append(None if sig is None else np.asarray(sig, dtype=np.float32))
            self.archs.append(obs.arch)
            self.n += 1
        every = int(self.options["recluster_every"])
        due = self.n - self.n % every
        if due >= self.options["init_samples"] and due > self.built_at:
            self.built_at = due
            self.tree = self._cluster(due)
            self.reclusters += 1
            self.assign[: self.n] = -1
            if self.tree is not None:
                # Relative to the re-cluster point, so one batch and one by one agree.
                recent = np.arange(max(0, due - int(self.options["window"])), self.n)
                idx = np.union1d(self.tree.rows, recent)
                self.assign[idx] = self._nearest(idx)
        elif self.tree is not None and start < self.n:
            self.assign[start : self.n] = self._nearest(np.arange(start, self.n))

    def _cluster(self, k: int) -> ClusterTree | None:
        """The tree of (a bounded subsample of) the first `k` observations."""
        rows = np.flatnonzero(self.ok[:k])
        m = int(self.options["max_cluster"])
        if len(rows) > m:
            order = rows[np.argsort(-self.values[rows], kind="stable")]
            best = order[: m // 2]
            rest = order[m // 2 :]
            spread = rest[np.linspace(0, len(rest) - 1, m - len(best)).round().astype(int)]
            rows = np.sort(np.concatenate([best, spread]))
        if len(rows) < 2:
            return None
        feats = self._signature_matrix(rows)
        use_sig = feats is not None
        if feats is None:
            feats = self.X[rows]
        Z = linkage(feats, method=self.options["linkage"], metric="euclidean")
        return ClusterTree(rows, Z, feats if use_sig else None, self.X[rows].copy())

    def _signature_matrix(self, rows: np.ndarray) -> np.ndarray | None:
        sigs = [self.signatures[i] for i in rows]
        if any(s is None for s in sigs) or len({len(s) for s in sigs}) != 1:  # type: ignore[arg-type]
            return None
        return np.vstack(sigs).astype(float)  # type: ignore[arg-type]

    def _nearest(self, idx: np.ndarray) -> np.ndarray:
        """Leaf (member position) nearest to each observation in `idx`."""
        tree = self.tree
        assert tree is not None
        out = _argmin_l2(self.X[idx], tree.enc)
        if tree.sig is not None:
            width = tree.sig.shape[1]
            for j, i in enumerate(idx.tolist()):
                s = self.signatures[i]
                if s is not None and len(s) == width:
                    out[j] = int(_argmin_l2(s[None, :], tree.sig)[0])
        return out

    # -- proposing ------------------------------------------------------------------------
    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        excluded = self.excluded(pending)
        tree = self.tree
        if tree is None:
            return self.require([Proposal(a) for a in self.random_new(n, excluded)], n)
        counts, sums = self.node_stats(pending)
        out: list[Proposal] = []
        for _ in range(n):
            found = self._descend(tree, counts, sums, excluded)
            if found is None:
                archs = self.random_new(1, excluded)
                if not archs:
                    break
                out.append(Proposal(archs[0], region="random"))
                continue
            arch, leaf = found
            tree.visit(counts, sums, leaf, sums[leaf] / counts[leaf])
            out.append(Proposal(arch, region=f"cluster:{leaf}"))
        return self.require(out, n)

    def node_stats(self, pending: Sequence[Arch] = ()) -> tuple[np.ndarray, np.ndarray]:
        """(visits, reward sums) of every tree node: the observations assigned below it
        plus a visit per pending architecture at its nearest leaf (with the leaf's mean)."""
        tree = self.tree
        assert tree is not None
        q = targets(self.values[: self.n], self.ok[: self.n], self.options["target"])
        used = self.assign[: self.n] >= 0
        counts, sums = tree.stats(self.assign[: self.n][used], q[used])
        if pending:
            leaves = _argmin_l2(self.space.encode_many(list(pending)), tree.enc)
            for leaf in leaves.tolist():
                tree.visit(counts, sums, leaf, sums[leaf] / counts[leaf])
        return counts, sums

    def _descend(
        self, tree: ClusterTree, counts: np.ndarray, sums: np.ndarray, excluded: Excluded
    ) -> tuple[Arch, int] | None:
        lam = float(self.options["exploration"])
        temp = float(self.options["temperature"])
        dead: set[int] = set()
        for _ in range(MAX_DESCENTS):
            node = tree.root
            while node >= tree.m:
                kids = [k for k in tree.children[node - tree.m] if k not in dead]
                if not kids:
                    dead.add(node)
                    break
                if len(kids) == 1:
                    node = kids[0]
                    continue
                log_parent = math.log(max(counts[node], 1.0))
                r = np.array(
                    [sums[k] / counts[k] + lam * math.sqrt(log_parent / counts[k]) for k in kids]
                )
                p = np.exp((r - r.max()) / temp)
                node = kids[int(self.rng.random() * p.sum() > p[0])]
            else:
                arch = self._neighbour(self.archs[int(tree.rows[node])], excluded)
                if arch is not None:
                    return arch, node
                dead.add(node)
            if tree.root in dead:
                return None
        return None

    def _neighbour(self, parent: Arch, excluded: Excluded) -> Arch | None:
        """A valid new architecture one token from `parent` (or None): the best ranked by
        the ridge predictor of up to `neighbours` drawn uniformly, or the first drawn."""
        tokens = list(self.space.to_tokens(parent))
        allowed = self._masks.copy()
        allowed[np.arange(len(tokens)), tokens] = False
        flat = np.flatnonzero(allowed)
        vocab = self._masks.shape[1]
        want = max(1, int(self.options["neighbours"]))
        found: list[tuple[Arch, str]] = []
        keys: set[str] = set()
        for f in self.rng.permutation(flat).tolist():
            pos, tok = divmod(int(f), vocab)
            child = list(tokens)
            child[pos] = tok
            arch = self.space.from_tokens(child)
            if arch is None:
                continue
            key = self.space.canonical_hash(arch)
            if key not in excluded and key not in keys:
                keys.add(key)
                found.append((arch, key))
                if len(found) >= want:
                    break
        if not found:
            return None
        pick = 0
        ridge = self._ridge() if len(found) > 1 else None
        if ridge is not None:
            pick = int(np.argmax(ridge.predict(self.space.encode_many([a for a, _ in found]))))
        arch, key = found[pick]
        excluded.add(key)
        return arch

    def _ridge(self) -> Ridge | None:
        """Ridge regression of the rewards on the encodings (refitted when n changes)."""
        if self._fit[0] != self.n:
            rows = np.flatnonzero(self.ok[: self.n])[-MAX_FIT:]
            ridge = None
            if len(rows) >= MIN_FIT:
                q = targets(self.values[: self.n], self.ok[: self.n], self.options["target"])
                ridge = Ridge(1.0).fit(self.X[rows], q[rows])
            self._fit = (self.n, ridge)
        return self._fit[1]


class ClusterTree:
    """A binary tree from a scipy linkage matrix: leaves 0..m-1 (the clustered
    observations `rows`), internal node m+i merges `Z[i, 0]` and `Z[i, 1]`."""

    def __init__(
        self, rows: np.ndarray, Z: np.ndarray, sig: np.ndarray | None, enc: np.ndarray
    ) -> None:
        self.rows = rows
        self.m = len(rows)
        self.root = 2 * self.m - 2
        self.children: list[tuple[int, int]] = Z[:, :2].astype(np.int64).tolist()
        self.parent = np.full(2 * self.m - 1, -1, dtype=np.int64)
        for i, (a, b) in enumerate(self.children):
            self.parent[a] = self.parent[b] = self.m + i
        self.sig = sig
        self.enc = enc

    def stats(self, assign: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Visits and reward sums per node from each observation's leaf and reward."""
        size = 2 * self.m - 1
        counts = np.bincount(assign, minlength=size).astype(float)
        sums = np.bincount(assign, weights=rewards, minlength=size)
        for i, (a, b) in enumerate(self.children):  # children precede their parent
            counts[self.m + i] = counts[a] + counts[b]
            sums[self.m + i] = sums[a] + sums[b]
        np.maximum(counts, 1e-9, out=counts)  # a leaf always holds its own observation
        return counts, sums

    def visit(self, counts: np.ndarray, sums: np.ndarray, leaf: int, reward: float) -> None:
        node = leaf
        while node >= 0:
            counts[node] += 1
            sums[node] += reward
            node = int(self.parent[node])

    def depth(self) -> int:
        """The longest root-to-leaf path (edges)."""
        best = 0
        for leaf in range(self.m):
            d, node = 0, leaf
            while self.parent[node] >= 0:
                node = int(self.parent[node])
                d += 1
            best = max(best, d)
        return best


def _argmin_l2(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """For each row of A, the index of the nearest row of B (squared L2)."""
    d = (B * B).sum(axis=1)[None, :] - 2.0 * (A @ B.T)
    return np.argmin(d, axis=1)
