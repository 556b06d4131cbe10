"""The strategy contract: a Designer-shaped ask/tell interface over one search space."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any
from typing import Iterable
from typing import Sequence

import numpy as np

from archsampler.errors import ExhaustedError
from archsampler.errors import InvalidArgumentError
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace


@dataclass(frozen=True)
class Observation:
    """A finished trial as a strategy sees it: higher `value` is better; None = failed.
    `signature`: the output vector its trainer reported (metadata `signature`), if any.
    `values`: in a study with several objectives, one value per objective in the study's
    order, each in the maximising sign (`value` is then the first); None otherwise or when
    failed. `feasible`: False when a reported metric violates a study constraint (the
    trial is evidence of an infeasible region, never a best)."""

    arch: Arch
    value: float | None
    signature: tuple[float, ...] | None = None
    values: tuple[float, ...] | None = None
    feasible: bool = True


SPARSE_UNSEEN = 0.25
"""Once a listed space has fewer than this fraction unseen, draw from the list directly."""
LIST_DIRECTLY = 4096
"""Listed spaces this small are always drawn from the list (cheaper than rejection)."""


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

    def __len__(self) -> int:
        """An upper bound on the distinct hashes excluded (pending may repeat observed)."""
        return len(self._seen) + len(self._extra)


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
          For a space that lists itself (`SearchSpace.enumerate_archs`) that is exact:
          `random_new` falls back to the list, so sampling never fakes exhaustion.
        * `propose` does not change what the strategy has learned; only `observe` does.
    """

    name: str = ""
    multi_objective: bool = False
    """Whether the strategy uses `Observation.values` (studies with several objectives are
    refused at creation for a strategy that does not)."""

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        if options:
            raise ValueError(
                f"strategy {self.name!r} got unknown options {sorted(options)}; it accepts none"
            )
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()
        self._universe: tuple[list[str], list[Arch]] | None | bool = False  # False: not yet
        self._short: int | None = None  # the listed space's size when a draw fell short

    @property
    def uses_model(self) -> bool:
        """Whether the service should hand this strategy the study's model (`UsesModel`)."""
        return isinstance(self, UsesModel)

    def reseed(self, seed: np.random.SeedSequence) -> None:
        """Restart the strategy's draws from `seed`, in place: every holder of `self.rng`
        follows."""
        bits = self.rng.bit_generator
        bits.state = type(bits)(seed).state

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
        """Up to `n` uniformly random unseen architectures; adds their hashes to `excluded`.

        Draws by rejection first. When that falls short and the space can list itself
        (`SearchSpace.enumerate_archs`, computed once per strategy), the rest is drawn
        uniformly from the listed architectures that are still unseen, so fewer than `n`
        come back only when fewer than `n` exist; the list is used directly once few
        unseen ones are left. `max_tries` bounds the rejection draws alone.
        """
        self._short = None
        out: list[Arch] = []
        if self._universe is None:  # the space cannot list itself: rejection only
            self._sample_into(out, n, excluded, max_tries or 200 * n + 10_000)
            return out
        if self._universe is False or not self._list_first(len(excluded)):
            # Short first tries while it is unknown whether the space can list itself.
            tries = 2 * n + 16 if self._universe is False else 8 * n + 64
            try:
                self._sample_into(out, n, excluded, max_tries or tries)
            except InvalidArgumentError:  # constraints too tight to sample by rejection
                if self._list_space() is None:
                    raise
            if len(out) == n:
                return out
        universe = self._list_space()
        if universe is None:
            self._sample_into(out, n, excluded, max_tries or 200 * n + 10_000)
            return out
        hashes, archs = universe
        unseen = [i for i, key in enumerate(hashes) if key not in excluded]
        take = min(n - len(out), len(unseen))
        for i in self.rng.choice(len(unseen), size=take, replace=False).tolist():
            excluded.add(hashes[unseen[i]])
            out.append(archs[unseen[i]])
        if len(out) < n:
            self._short = len(hashes)
        return out

    def _sample_into(self, out: list[Arch], n: int, excluded: Excluded, tries: int) -> None:
        for _ in range(tries):
            if len(out) >= n:
                return
            arch = self.space.sample(self.rng)
            key = self.space.canonical_hash(arch)
            if key not in excluded:
                excluded.add(key)
                out.append(arch)

    def _list_first(self, n_excluded: int) -> bool:
        """Whether to draw from the space's list without trying rejection first."""
        size = len(self._universe[0])  # type: ignore[index]
        return size <= LIST_DIRECTLY or n_excluded >= (1 - SPARSE_UNSEEN) * size

    def _list_space(self) -> tuple[list[str], list[Arch]] | None:
        """The space's architectures with their hashes (once; None when it cannot list)."""
        if self._universe is False:
            archs = self.space.enumerate_archs()
            self._universe = (
                None if archs is None else ([self.space.canonical_hash(a) for a in archs], archs)
            )
        return self._universe  # type: ignore[return-value]

    def require(self, proposals: list[Proposal], n: int) -> list[Proposal]:
        """Return `proposals` or raise `ExhaustedError` when fewer than `n` were found.

        The message says how many remain when the space was listed (then the count is
        exact: only pending or evaluated architectures are left).
        """
        if len(proposals) < n:
            if self._short is not None:
                raise ExhaustedError(
                    f"only {len(proposals)} of {n} requested architectures remain unseen: the "
                    f"space has {self._short:,} distinct architectures and the others are "
                    "pending or evaluated"
                )
            raise ExhaustedError(
                f"only {len(proposals)} of {n} unseen architectures could be found; "
                f"{len(self.seen)} evaluated so far"
            )
        return proposals
