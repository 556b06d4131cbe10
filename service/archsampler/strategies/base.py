"""The strategy contract: a Designer-shaped ask/tell interface over one search space."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any
from typing import Iterable
from typing import Sequence

import numpy as np

from archsampler.errors import ExhaustedError
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace


@dataclass(frozen=True)
class Observation:
    """A finished trial as a strategy sees it: higher `value` is better; None = failed."""

    arch: Arch
    value: float | None


class Excluded:
    """Hashes that may not be proposed in one call: the observed set (read, never copied)
    plus pending ones and those taken during the call (`add`)."""

    __slots__ = ("_seen", "_extra")

    def __init__(self, seen: set[str], extra: Iterable[str] = ()) -> None:
        self._seen = seen
        self._extra = set(extra)

    def __contains__(self, key: object) -> bool:
        return key in self._extra or key in self._seen

    def add(self, key: str) -> None:
        self._extra.add(key)


@dataclass(frozen=True)
class Proposal:
    """One architecture a strategy wants evaluated."""

    arch: Arch
    predicted_value: float | None = None
    region: str = ""


class UsesModel:
    """Capability mixin: the strategy uses the study's NAO model once one is validated.

    The service calls `set_model` with a `archsampler.predictor.ModelHandle` (or None)
    whenever the study's model version changes; `propose` reads `self.model`.
    """

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model


class Strategy(abc.ABC):
    """Proposes architectures and learns from finished trials.

    The service owns one instance per study and calls it from one thread at a time.
    State must be rebuildable by replaying every finished trial through `observe`, so a
    restarted server continues the search. Values are always maximised: the service
    negates them for studies that minimise.

    Contract:
        * `propose` never returns an architecture already observed, pending, or twice in
          one batch (by canonical hash); it raises `ExhaustedError` when no new one exists.
        * `propose` does not change what the strategy has learned; only `observe` does.
    """

    name: str = ""

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        if options:
            raise ValueError(
                f"strategy {self.name!r} got unknown options {sorted(options)}; it accepts none"
            )
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def observe(self, observations: Sequence[Observation]) -> None:
        """Learn from newly finished trials (each trial is passed exactly once)."""
        for obs in observations:
            self.seen.add(self.space.canonical_hash(obs.arch))
        self._observe(observations)

    def _observe(self, observations: Sequence[Observation]) -> None:  # noqa: B027
        """Hook for learning strategies; the base already records seen hashes."""

    @abc.abstractmethod
    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        """Return `n` new architectures, none equal to an observed or pending one.

        Args:
            n: number of proposals, >= 1.
            pending: architectures proposed earlier and not yet reported.

        Raises:
            ExhaustedError: fewer than `n` unseen architectures could be found.
        """

    # -- helpers for implementations ------------------------------------------------------
    def excluded(self, pending: Sequence[Arch]) -> Excluded:
        """Hashes that may not be proposed now: observed plus pending."""
        return Excluded(self.seen, (self.space.canonical_hash(a) for a in pending))

    def random_new(self, n: int, excluded: Excluded, max_tries: int | None = None) -> list[Arch]:
        """Up to `n` uniformly random unseen architectures; adds their hashes to `excluded`."""
        out: list[Arch] = []
        tries = 0
        limit = max_tries if max_tries is not None else 200 * n + 10_000
        while len(out) < n and tries < limit:
            tries += 1
            arch = self.space.sample(self.rng)
            key = self.space.canonical_hash(arch)
            if key not in excluded:
                excluded.add(key)
                out.append(arch)
        return out

    def require(self, proposals: list[Proposal], n: int) -> list[Proposal]:
        """Return `proposals` or raise `ExhaustedError` when fewer than `n` were found."""
        if len(proposals) < n:
            raise ExhaustedError(
                f"only {len(proposals)} of {n} unseen architectures could be found; "
                f"{len(self.seen)} evaluated so far"
            )
        return proposals
