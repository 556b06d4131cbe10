"""MCTS on a hierarchy learned by clustering (see `strategy.HierarchicalStrategy`)."""

from archsampler.strategies.hierarchical.strategy import HierarchicalStrategy

__all__ = ["HierarchicalStrategy"]
