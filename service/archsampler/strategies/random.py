"""Uniform random search over unseen architectures."""

from __future__ import annotations

from typing import Sequence

from archsampler.spaces.base import Arch
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy


class RandomStrategy(Strategy):
    """Samples uniformly, rejecting architectures already evaluated or pending."""

    name = "random"
    multi_objective = True  # proposals ignore values: the uniform baseline

    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        archs = self.random_new(n, self.excluded(pending))
        return self.require([Proposal(a) for a in archs], n)
