"""AlphaX: MCTS over the space's token decisions (see `strategy.AlphaXStrategy`)."""

from archsampler.strategies.alphax.strategy import AlphaXStrategy

__all__ = ["AlphaXStrategy"]
