"""Regularized evolution (Real et al., 2019): tournament selection with aging; with several
objectives, NSGA-II's elitist selection (Deb et al., 2002)."""

from __future__ import annotations

from collections import deque
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.pareto import crowding_distance
from archsampler.pareto import nondominated_ranks
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.strategies.base import Excluded
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy

MAX_POPULATION = 10_000
"""Bound on `population` (and so on `sample_size`): a tournament draws from all of it."""
_MAX_MUTATION_TRIES = 256
_REPAIR_TRIES = 8


class EvolutionStrategy(Strategy):
    """Regularized ("aging") evolution over the space's token encoding.

    Until `population` architectures have reported a value, proposals are uniformly
    random. After that each proposal samples `sample_size` members of the population,
    takes the best as parent and changes one token of its `to_tokens` sequence to another
    token the space allows there (`token_spec().masks`), retrying until the child is valid
    and neither observed nor pending (a change that activates a conditional parameter also
    sets that parameter); if no such child is found it falls back to a random unseen
    architecture. Every observation with a value joins the population and the
    oldest member leaves, whatever its value. Failed trials (value None) never join.

    With several objectives (`Observation.values`) the population is NSGA-II's elite
    instead: each batch of new observations joins it and it is cut back to `population`
    members by non-dominated rank, then crowding distance (constrained domination: a
    feasible member beats an infeasible one). Parents are chosen by binary tournament on
    (rank, crowding distance); children are one-token mutations as above (no crossover).

    Args:
        space: the search space.
        seed: seeds every random choice; equal seeds and inputs give equal proposals.
        population: population size P, an integer in 1..10,000 (default 50).
        sample_size: tournament size S, an integer in 1..P (default 10).

    Raises:
        ValueError: an option is not an integer in its range, or is unknown.
    """

    name = "evolution"
    multi_objective = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        population: int = 50,
        sample_size: int = 10,
        **options: Any,
    ) -> None:
        super().__init__(space, seed=seed, **options)
        for key, val in (("population", population), ("sample_size", sample_size)):
            if isinstance(val, bool) or not isinstance(val, int) or not 1 <= val <= MAX_POPULATION:
                raise ValueError(
                    f"evolution option {key!r} must be an integer in 1..{MAX_POPULATION}, "
                    f"got {val!r:.40}"
                )
        if sample_size > population:
            raise ValueError(
                f"evolution option 'sample_size' ({sample_size}) must not exceed "
                f"'population' ({population})"
            )
        self.population_size = population
        self.sample_size = sample_size
        self.population: deque[tuple[Arch, float]] = deque(maxlen=population)
        self._masks = np.asarray(space.token_spec().masks, dtype=bool)
        self.elite: list[tuple[Arch, np.ndarray, bool]] = []  # several objectives
        self._elite_rank = np.zeros(0, dtype=np.int64)
        self._elite_crowd = np.zeros(0)

    def _observe(self, observations: Sequence[Observation]) -> None:
        multi = [o for o in observations if o.values is not None]
        if multi:
            self._select(multi)
        for obs in observations:
            if obs.value is not None and obs.values is None:
                self.population.append((obs.arch, float(obs.value)))

    def _select(self, observations: Sequence[Observation]) -> None:
        """NSGA-II environmental selection of (elite + new) down to `population` members."""
        pool = list(self.elite)
        for o in observations:
            v = np.asarray(o.values, dtype=float)
            if np.all(np.isfinite(v)):
                pool.append((o.arch, v, bool(o.feasible)))
        V = np.array([p[1] for p in pool])
        feas = np.array([p[2] for p in pool])
        ranks = nondominated_ranks(V, feas)
        crowd = np.zeros(len(pool))
        for r in np.unique(ranks):
            members = np.flatnonzero(ranks == r)
            crowd[members] = crowding_distance(V[members])
        # Rank ascending, then crowding descending; arrival order breaks exact ties.
        order = np.lexsort((np.arange(len(pool)), -crowd, ranks))[: self.population_size]
        self.elite = [pool[i] for i in order]
        self._elite_rank, self._elite_crowd = ranks[order], crowd[order]

    def _crowded_tournament(self) -> Arch:
        """NSGA-II binary tournament: lower rank wins, then larger crowding distance."""
        size = min(2, len(self.elite))
        idx = self.rng.choice(len(self.elite), size=size, replace=False)
        best = min(idx, key=lambda i: (self._elite_rank[i], -self._elite_crowd[i], i))
        return self.elite[best][0]

    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        excluded = self.excluded(pending)
        out: list[Proposal] = []
        for _ in range(n):
            child = None
            if len(self.elite) >= self.population_size:
                child = self._mutate(self._crowded_tournament(), excluded)
            elif len(self.population) >= self.population_size:
                child = self._mutate(self._tournament(), excluded)
            if child is None:
                found = self.random_new(1, excluded)
                if not found:
                    break
                child = found[0]
            out.append(Proposal(child))
        return self.require(out, n)

    def _tournament(self) -> Arch:
        """The best of `sample_size` distinct members drawn uniformly from the population."""
        idx = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        # Ties go to the younger member (larger index), as in an age-ordered population.
        best = max(idx, key=lambda i: (self.population[i][1], i))
        return self.population[best][0]

    def _mutate(self, parent: Arch, excluded: Excluded) -> Arch | None:
        """A valid unseen one-token mutation of `parent` (hash added to `excluded`), or None."""
        tokens = list(self.space.to_tokens(parent))
        allowed = self._masks.copy()
        allowed[np.arange(len(tokens)), tokens] = False
        candidates = np.flatnonzero(allowed)
        if candidates.size == 0:
            return None
        vocab = self._masks.shape[1]
        # Position first, then token, both uniform: weight 1 / (alternatives at the position).
        per_pos = allowed.sum(axis=1)
        weights = 1.0 / per_pos[candidates // vocab]
        candidates = self.rng.choice(
            candidates,
            size=min(candidates.size, _MAX_MUTATION_TRIES),
            replace=False,
            p=weights / weights.sum(),
        )
        for flat in candidates:
            pos, token = divmod(int(flat), vocab)
            child_tokens = list(tokens)
            child_tokens[pos] = token
            child = self.space.from_tokens(child_tokens)
            if child is None:
                child = self._repair(child_tokens, pos)
            if child is None:
                continue
            key = self.space.canonical_hash(child)
            if key not in excluded:
                excluded.add(key)
                return child
        return None

    def _repair(self, tokens: list[int], pos: int) -> Arch | None:
        """A valid sequence one more token away (the change at `pos` may need a partner).

        In conditional spaces, switching a parameter can activate another one whose token
        was "inactive"; setting that one too is still a change of one parameter's meaning.
        """
        others = [i for i in range(len(tokens)) if i != pos and self._masks[i].sum() > 1]
        for _ in range(min(_REPAIR_TRIES, 4 * len(others))):
            j = int(self.rng.choice(others))
            repaired = list(tokens)
            repaired[j] = int(self.rng.choice(np.flatnonzero(self._masks[j])))
            child = self.space.from_tokens(repaired)
            if child is not None:
                return child
        return None
