"""The search-space contract every strategy, the servicer and the predictor rely on."""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Any
from typing import Sequence

import numpy as np

from archsampler_models.tokens import TokenSpec

Arch = Any
"""A space-native architecture value. Each space documents its own type; it is hashable."""

ParamValue = str | int | float | bool

ENUMERATE_LIMIT = 65_536
"""Spaces with at most this many architectures are listed in full by `enumerate_archs`
when sampling falls short (about 0.3 s of work for the largest)."""


@dataclass(frozen=True)
class LinearConstraints:
    """User constraints `A x <= b` in the space's feature coordinates (see `encode`)."""

    A: np.ndarray
    b: np.ndarray


class SearchSpace(abc.ABC):
    """A set of architectures with the operations the service needs.

    Implementations are immutable and thread-safe. Every method that receives an
    architecture from outside (`from_string`, `from_params`) validates it and raises
    `InvalidArchitectureError` with a message saying what is wrong.
    """

    name: str

    # -- identity -----------------------------------------------------------------------
    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """A JSON-able description; `archsampler.spaces.make_space(spec)` rebuilds the space."""

    def size(self) -> int | None:
        """Number of distinct architectures (canonical hashes) when known, else None."""
        return None

    def enumerate_archs(self, limit: int = ENUMERATE_LIMIT) -> list[Arch] | None:
        """Every distinct architecture once (one per canonical hash), or None.

        None means the space has more than `limit` architectures or cannot list them
        cheaply (real-valued params, graph spaces). Strategies use the list to tell a
        space that is truly exhausted from one where sampling merely falls short, so it
        must be complete and every entry valid. The default lists nothing.
        """
        return None

    # -- sampling and validity ----------------------------------------------------------
    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Arch:
        """Draw a valid architecture uniformly at random (over the space's parameters)."""

    @abc.abstractmethod
    def validate(self, arch: Arch) -> None:
        """Raise `InvalidArchitectureError` unless `arch` is a valid member of this space."""

    @abc.abstractmethod
    def canonical_hash(self, arch: Arch) -> str:
        """A string equal for two architectures exactly when they are the same network."""

    # -- wire forms ---------------------------------------------------------------------
    @abc.abstractmethod
    def to_string(self, arch: Arch) -> str:
        """The canonical human string sent on the wire."""

    @abc.abstractmethod
    def from_string(self, text: str) -> Arch:
        """Parse and validate a canonical string."""

    @abc.abstractmethod
    def to_params(self, arch: Arch) -> dict[str, ParamValue]:
        """The structured form sent on the wire (name -> value)."""

    @abc.abstractmethod
    def from_params(self, params: dict[str, ParamValue]) -> Arch:
        """Parse and validate the structured form."""

    # -- real-vector features (LaNAS) ---------------------------------------------------
    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Length of the feature vector."""

    @abc.abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the feature box."""

    @abc.abstractmethod
    def encode(self, arch: Arch) -> np.ndarray:
        """Feature vector (float64, shape (dim,)) inside `bounds()`."""

    def encode_many(self, archs: Sequence[Arch]) -> np.ndarray:
        if not archs:
            return np.zeros((0, self.dim))
        return np.stack([self.encode(a) for a in archs])

    @abc.abstractmethod
    def decode(self, x: np.ndarray) -> Arch | None:
        """The nearest valid architecture to feature vector `x`, or None if there is none."""

    def decode_many(self, X: np.ndarray) -> list[Arch | None]:
        """`decode` of every row of `X`; spaces override it when a batch is cheaper."""
        return [self.decode(x) for x in np.asarray(X)]

    def constraints(self) -> LinearConstraints | None:
        """User linear constraints in feature space, if the space has any."""
        return None

    # -- token sequences (NAO) ----------------------------------------------------------
    @abc.abstractmethod
    def token_spec(self) -> TokenSpec:
        """Fixed-length token encoding shared by `to_tokens` / `from_tokens`."""

    @abc.abstractmethod
    def to_tokens(self, arch: Arch) -> list[int]:
        """Token sequence of `arch` (length `token_spec().length`)."""

    @abc.abstractmethod
    def from_tokens(self, tokens: Sequence[int]) -> Arch | None:
        """Architecture of a token sequence, or None when it is not a valid one."""


def digest(text: str) -> str:
    """Short stable hash used by spaces whose canonical form is already a string."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
