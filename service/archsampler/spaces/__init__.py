"""Search spaces: built-in benchmark spaces and user-defined ones, built from a spec."""

from __future__ import annotations

from typing import Any

from archsampler.errors import InvalidArgumentError
from archsampler.spaces.base import Arch
from archsampler.spaces.base import LinearConstraints
from archsampler.spaces.base import SearchSpace
from archsampler.spaces.base import TokenSpec

BUILTIN_SPACES = ("nb201", "nb101", "darts", "darts_rnn", "mlp")


def make_space(spec: dict[str, Any]) -> SearchSpace:
    """Build a space from its spec: `{"builtin": "nb201"}` or `{"user": {...}}`.

    Raises:
        InvalidArgumentError: unknown built-in name or an invalid user space.
    """
    if "builtin" in spec:
        name = spec["builtin"]
        if name == "nb201":
            from archsampler.spaces.nb201 import NB201Space

            return NB201Space()
        if name == "nb101":
            from archsampler.spaces.nb101 import NB101Space

            return NB101Space()
        if name == "darts":
            from archsampler.spaces.darts import DartsSpace

            return DartsSpace()
        if name == "darts_rnn":
            from archsampler.spaces.darts_rnn import DartsRNNSpace

            return DartsRNNSpace()
        if name == "mlp":
            from archsampler.spaces.mlp import MLPSpace

            return MLPSpace()
        raise InvalidArgumentError(
            f"unknown built-in space {name!r}; choose one of {list(BUILTIN_SPACES)} "
            "or declare a user space"
        )
    if "user" in spec:
        from archsampler.spaces.user import UserSpace

        return UserSpace.from_spec(spec["user"])
    raise InvalidArgumentError("a space spec needs 'builtin' or 'user'")


__all__ = [
    "BUILTIN_SPACES",
    "Arch",
    "LinearConstraints",
    "SearchSpace",
    "TokenSpec",
    "make_space",
]
