"""NAO: move the best architectures' embeddings up the predictor's gradient and decode."""

from __future__ import annotations

from typing import Any
from typing import Sequence

import numpy as np

from archsampler.spaces.base import Arch
from archsampler.strategies.base import Excluded
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy
from archsampler.strategies.base import UsesModel

MAX_SEEDS = 1000
MAX_ETA = 1e6
MAX_DOUBLINGS = 30
MAX_CANDIDATES = 10_000
"""Bound on `candidates`: one Propose scores at most this many random architectures."""


def _integer(key: str, val: Any, low: int, high: int) -> int:
    if isinstance(val, bool) or not isinstance(val, int) or not low <= val <= high:
        raise ValueError(
            f"nao option {key!r} must be an integer in {low}..{high}, got {val!r:.40}"
        )
    return val


class NAOStrategy(UsesModel, Strategy):
    """Neural Architecture Optimization (Luo et al. 2018) over the study's ONNX model.

    Algorithm 1 of the paper, one Propose at a time: the top-`seeds` evaluated
    architectures are the seeds; each seed's embedding takes the step e' = e + η ∂f/∂e,
    with η = `eta` doubled (up to `max_doublings` times) until the decoded architecture is
    valid, neither observed nor pending, and predicted better than its seed (the paper's
    premise f(e') ≥ f(e)). Every seed contributes at most its first such decode; the
    candidates of all seeds are ranked by the model and the best are proposed. When the
    steps find fewer than asked (every seed's neighbourhood is explored), the model ranks
    `candidates` random unseen architectures and the best predicted are proposed (the
    paper's fallback of evaluating the predictor on sampled architectures); with
    `candidates` 0 they are uniform random. Until the study has a validated model,
    proposals are uniform random.

    Proposals are labelled `nao:seed=<rank>:eta=<η>` (rank 0 = best evaluated), `predicted`
    (the fallback) or `random`, and carry the model's predicted value.

    Options (anything else, or a value outside its range, raises ValueError):
        seeds: how many of the best evaluated architectures seed the steps, an integer in
            1..1,000 (default 20).
        eta: first step size, a finite number in (0, 1e6] (default 1.0).
        max_doublings: how often η is doubled before a seed is given up, an integer in
            0..30 (default 8).
        candidates: random unseen architectures the model ranks when the steps fall
            short, an integer in 0..10,000 (default 1,000).
    """

    name = "nao"

    def __init__(self, space: Any, *, seed: int = 0, **options: Any) -> None:
        known = {"seeds": 20, "eta": 1.0, "max_doublings": 8, "candidates": 1000}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(
                f"strategy 'nao' got unknown options {unknown}; valid: {sorted(known)}"
            )
        cfg = {**known, **options}
        super().__init__(space, seed=seed)
        self.n_seeds = _integer("seeds", cfg["seeds"], 1, MAX_SEEDS)
        self.max_doublings = _integer("max_doublings", cfg["max_doublings"], 0, MAX_DOUBLINGS)
        self.candidates = _integer("candidates", cfg["candidates"], 0, MAX_CANDIDATES)
        eta = cfg["eta"]
        if (
            isinstance(eta, bool)
            or not isinstance(eta, (int, float))
            or not 0 < eta <= MAX_ETA  # also refuses NaN
        ):
            raise ValueError(
                f"nao option 'eta' must be a number in (0, {MAX_ETA:g}], got {eta!r:.40}"
            )
        self.eta = float(eta)
        self.evaluated: list[tuple[float, Arch]] = []

    def _observe(self, observations: Sequence[Observation]) -> None:
        self.evaluated.extend((o.value, o.arch) for o in observations if o.value is not None)

    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        pending_keys = [self.space.canonical_hash(a) for a in pending]
        excluded = Excluded(self.seen, pending_keys)
        out: list[Proposal] = []
        if self.model is not None and self.evaluated:
            out = self._nao_steps(n, excluded)
            if len(out) < n and self.candidates:
                taken = [self.space.canonical_hash(p.arch) for p in out]
                out += self._predicted(n - len(out), excluded, pending_keys + taken)
        if len(out) < n:
            out += [Proposal(a, region="random") for a in self.random_new(n - len(out), excluded)]
        return self.require(out, n)

    def seed_archs(self) -> list[Arch]:
        """The current seeds: the top-`seeds` evaluated architectures, best first (ties:
        the earlier observation first)."""
        order = sorted(range(len(self.evaluated)), key=lambda i: (-self.evaluated[i][0], i))
        return [self.evaluated[i][1] for i in order[: self.n_seeds]]

    def _nao_steps(self, n: int, excluded: Excluded) -> list[Proposal]:
        """Each seed's first new decode predicted better than the seed; the best `n`."""
        seeds = self.seed_archs()
        seed_scores = self.model.score(seeds)
        found: dict[str, tuple[float, Arch, str]] = {}
        active = list(range(len(seeds)))
        eta = self.eta
        for _ in range(self.max_doublings + 1):
            if not active:
                break
            decoded = self.model.nao_step([seeds[i] for i in active], eta)
            fresh: list[tuple[int, str, Arch]] = []
            for i, new in zip(active, decoded, strict=True):
                if new is None:
                    continue
                key = self.space.canonical_hash(new)
                if key not in excluded and key not in found:
                    fresh.append((i, key, new))
            done = set()
            if fresh:
                scores = self.model.score([a for _, _, a in fresh])
                for (i, key, new), s in zip(fresh, scores, strict=True):
                    if s > seed_scores[i] and i not in done and key not in found:
                        found[key] = (float(s), new, f"nao:seed={i}:eta={eta:g}")
                        done.add(i)
            active = [i for i in active if i not in done]
            eta *= 2
        best = sorted(found.items(), key=lambda kv: -kv[1][0])[:n]
        out = []
        for key, (score, arch, region) in best:
            excluded.add(key)
            out.append(Proposal(arch, score, region))
        return out

    def _predicted(self, n: int, excluded: Excluded, taken: list[str]) -> list[Proposal]:
        """The `n` best predicted of `candidates` random unseen architectures."""
        probe = Excluded(self.seen, taken)
        pool = self.random_new(max(self.candidates, n), probe)
        if not pool:
            return []
        scores = self.model.score(pool)
        out = []
        for j in np.argsort(-scores, kind="stable")[:n]:
            excluded.add(self.space.canonical_hash(pool[j]))
            out.append(Proposal(pool[j], float(scores[j]), "predicted"))
        return out
