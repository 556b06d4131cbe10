"""LaNAS: a learned tree of linear regressors, UCB selection, sampling inside leaf polytopes."""

from __future__ import annotations

from archsampler.strategies.lanas.strategy import LaNASStrategy

__all__ = ["LaNASStrategy"]
