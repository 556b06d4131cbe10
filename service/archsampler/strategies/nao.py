"""NAO: move the best architectures' embeddings up the predictor's gradient and decode."""

from __future__ import annotations

from typing import Any
from typing import Sequence

from archsampler.spaces.base import Arch
from archsampler.strategies.base import Excluded
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy
from archsampler.strategies.base import UsesModel


class NAOStrategy(UsesModel, Strategy):
    """Neural Architecture Optimization (Luo et al. 2018) over the study's ONNX model.

    For each of the top-`seeds` evaluated architectures, the NAO step e' = e + η ∂f/∂e is
    taken with η = `eta`, doubling (up to `max_doublings` times) until the decoded
    architecture is valid and unseen. Until the study has a validated model, or when the
    steps find nothing new, proposals are uniform random.

    Options:
        seeds: how many of the best evaluated architectures seed the steps (default 20).
        eta: first step size (default 1.0).
        max_doublings: how often η is doubled before a seed is given up (default 8).
    """

    name = "nao"

    def __init__(self, space: Any, *, seed: int = 0, **options: Any) -> None:
        known = {"seeds": 20, "eta": 1.0, "max_doublings": 8}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(
                f"strategy 'nao' got unknown options {unknown}; valid: {sorted(known)}"
            )
        cfg = {**known, **options}
        super().__init__(space, seed=seed)
        self.n_seeds = int(cfg["seeds"])
        self.eta = float(cfg["eta"])
        self.max_doublings = int(cfg["max_doublings"])
        if self.n_seeds < 1 or self.eta <= 0 or self.max_doublings < 0:
            raise ValueError("nao needs seeds >= 1, eta > 0 and max_doublings >= 0")
        self.evaluated: list[tuple[float, Arch]] = []

    def _observe(self, observations: Sequence[Observation]) -> None:
        self.evaluated.extend((o.value, o.arch) for o in observations if o.value is not None)

    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        excluded = self.excluded(pending)
        out: list[Proposal] = []
        if self.model is not None and self.evaluated:
            out = self._nao_steps(n, excluded)
        if len(out) < n:
            out += [Proposal(a, region="random") for a in self.random_new(n - len(out), excluded)]
        return self.require(out, n)

    def _nao_steps(self, n: int, excluded: Excluded) -> list[Proposal]:
        ranked = sorted(self.evaluated, key=lambda t: -t[0])[: self.n_seeds]
        seeds = [arch for _, arch in ranked]
        out: list[Proposal] = []
        eta = self.eta
        for _ in range(self.max_doublings + 1):
            if not seeds or len(out) >= n:
                break
            stuck = []
            for seed_arch, new in zip(seeds, self.model.nao_step(seeds, eta), strict=True):
                key = None if new is None else self.space.canonical_hash(new)
                if key is None or key in excluded:
                    stuck.append(seed_arch)
                elif len(out) < n:
                    excluded.add(key)
                    out.append(Proposal(new, region=f"nao:eta={eta:g}"))
            seeds, eta = stuck, eta * 2
        if out:
            scores = self.model.score([p.arch for p in out])
            out = [Proposal(p.arch, float(s), p.region) for p, s in zip(out, scores, strict=True)]
        return out
