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

MAX_SEEDS = 1000
MAX_ETA = 1e6
MAX_DOUBLINGS = 30


def _integer(key: str, val: Any, low: int, high: int) -> int:
    if isinstance(val, bool) or not isinstance(val, int) or not low <= val <= high:
        raise ValueError(
            f"nao option {key!r} must be an integer in {low}..{high}, got {val!r:.40}"
        )
    return val


class NAOStrategy(UsesModel, Strategy):
    """Neural Architecture Optimization (Luo et al. 2018) over the study's ONNX model.

    For each of the top-`seeds` evaluated architectures, the NAO step e' = e + η ∂f/∂e is
    taken with η = `eta`, doubling (up to `max_doublings` times) until the decoded
    architecture is valid and unseen. Until the study has a validated model, or when the
    steps find nothing new, proposals are uniform random.

    Options (anything else, or a value outside its range, raises ValueError):
        seeds: how many of the best evaluated architectures seed the steps, an integer in
            1..1,000 (default 20).
        eta: first step size, a finite number in (0, 1e6] (default 1.0).
        max_doublings: how often η is doubled before a seed is given up, an integer in
            0..30 (default 8).
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
        self.n_seeds = _integer("seeds", cfg["seeds"], 1, MAX_SEEDS)
        self.max_doublings = _integer("max_doublings", cfg["max_doublings"], 0, MAX_DOUBLINGS)
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
