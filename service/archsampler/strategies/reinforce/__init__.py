"""REINFORCE: an LSTM controller over the space's token sequence, trained in numpy."""

from __future__ import annotations

from archsampler.strategies.reinforce.strategy import ReinforceStrategy

__all__ = ["ReinforceStrategy"]
