"""Proposal strategies behind one interface, created by name with lazy imports."""

from __future__ import annotations

from typing import Any
from typing import Callable

from archsampler.spaces.base import SearchSpace
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy


def _random() -> type[Strategy]:
    from archsampler.strategies.random import RandomStrategy

    return RandomStrategy


def _evolution() -> type[Strategy]:
    from archsampler.strategies.evolution import EvolutionStrategy

    return EvolutionStrategy


def _lanas() -> type[Strategy]:
    from archsampler.strategies.lanas import LaNASStrategy

    return LaNASStrategy


def _nao() -> type[Strategy]:
    from archsampler.strategies.nao import NAOStrategy

    return NAOStrategy


def _reinforce() -> type[Strategy]:
    from archsampler.strategies.reinforce import ReinforceStrategy

    return ReinforceStrategy


def _alphax() -> type[Strategy]:
    from archsampler.strategies.alphax import AlphaXStrategy

    return AlphaXStrategy


def _hierarchical() -> type[Strategy]:
    from archsampler.strategies.hierarchical import HierarchicalStrategy

    return HierarchicalStrategy


STRATEGIES: dict[str, Callable[[], type[Strategy]]] = {
    "random": _random,
    "evolution": _evolution,
    "lanas": _lanas,
    "nao": _nao,
    "reinforce": _reinforce,
    "alphax": _alphax,
    "hierarchical": _hierarchical,
}
DEFAULT_STRATEGY = "lanas"


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as `name`; ValueError lists the valid names otherwise."""
    try:
        loader = STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}"
        ) from None
    return loader()


def make_strategy(
    name: str, space: SearchSpace, *, seed: int = 0, options: dict[str, Any] | None = None
) -> Strategy:
    """Build strategy `name` for `space`. Raises ValueError on bad names or options."""
    return strategy_class(name)(space, seed=seed, **(options or {}))


__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "Observation",
    "Proposal",
    "Strategy",
    "make_strategy",
    "strategy_class",
]
