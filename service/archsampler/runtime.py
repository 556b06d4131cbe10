"""In-memory state of one study: space, strategy, pending architectures, catch-up position.

Only the study's proposal lane touches a runtime (one round at a time), so there is no
locking here. It syncs through a read transaction; it never writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

import numpy as np

from archsampler.config import StudyConfig
from archsampler.objectives import maximising
from archsampler.signatures import signature_of
from archsampler.spaces import SearchSpace
from archsampler.spaces import make_space
from archsampler.spaces.base import Arch
from archsampler.storage.base import Transaction
from archsampler.strategies import Observation
from archsampler.strategies import Strategy
from archsampler.strategies import make_strategy
from archsampler.strategy_hosts import HostedStrategy
from archsampler.strategy_hosts import StrategyHosts
from archsampler.trial import EVIDENCE


def draw_seed(seed: int, next_number: int, attempt: int) -> np.random.SeedSequence:
    """The seed of the draws made when the study has had `next_number` trials, on the
    `attempt`-th proposal round at that number (0 unless earlier rounds inserted nothing)."""
    return np.random.SeedSequence([seed % 2**64, next_number, attempt])


@dataclass
class StudyRuntime:
    """A study's strategy, kept in step with storage through `sync`."""

    name: str
    created_at: float
    config: StudyConfig
    space: SearchSpace
    strategy: Strategy | HostedStrategy
    seq: int = 0
    pending: dict[int, Arch] = field(default_factory=dict)
    queued: dict[int, Arch] = field(default_factory=dict)  # QUEUED trials, oldest first
    pending_stale: bool = True
    stale_generation: int = 0  # reload pending when the lanes' generation differs
    model: Any = None  # the ModelHandle last handed to the strategy
    _parsed: dict[str, Arch] = field(default_factory=dict)
    _draws: tuple[int, int] = (-1, 0)  # (next_number, attempt) of the last `reseed`

    @classmethod
    def load(
        cls, batch: Transaction, name: str, hosts: StrategyHosts | None = None
    ) -> StudyRuntime:
        """Build the runtime of study `name` from its stored config (trials come via `sync`);
        with `hosts`, its strategy lives in a host process."""
        row = batch.study(name)
        config = StudyConfig.from_dict(json.loads(row.config_json))
        space = make_space(config.space)
        options = dict(config.strategy_options)
        strategy: Strategy | HostedStrategy = (
            make_strategy(config.strategy, space, seed=config.seed, options=options)
            if hosts is None
            else hosts.make(config.strategy, dict(config.space), config.seed, options, name)
        )
        return cls(name, row.created_at, config, space, strategy)

    @property
    def sign(self) -> float:
        """+1 when the study maximises; strategies always maximise."""
        return self.config.sign

    def reseed(self, next_number: int) -> None:
        """Seed the strategy's draws from (study seed, trials so far, round at that count).

        A rebuilt runtime (restart, other replica) thus draws what this one would have from
        the same log, and no round replays an earlier round's draws: each insert advances
        `next_number`, and a round that inserted nothing advances the attempt.
        """
        number, attempt = self._draws
        attempt = attempt + 1 if number == next_number else 0
        self._draws = (next_number, attempt)
        self.strategy.reseed(draw_seed(self.config.seed, next_number, attempt))

    def parse(self, text: str) -> Arch:
        arch = self._parsed.get(text)
        if arch is None:
            arch = self._parsed[text] = self.space.from_string(text)
        return arch

    def sync(self, batch: Transaction, stale_generation: int | None = None) -> None:
        """Feed the strategy every trial finished since the last sync; refresh pending when
        marked stale (or when `stale_generation` moved on)."""
        rows, seq = batch.finished_rows(self.name, self.seq)
        self.seq = max(self.seq, seq)  # a reader on an older snapshot reads nothing new
        if rows:
            observations = []
            vectors = batch.values_of([r[0] for r in rows]) if self.config.objectives else {}
            for trial_id, text, state, value, meta in rows:
                arch = self.pending.pop(trial_id, None)
                ok = state in EVIDENCE and value is not None  # STOPPED: partial evidence
                obs = Observation(
                    self.parse(text) if arch is None else arch,
                    self.sign * value if ok else None,
                    signature_of(meta),
                )
                reported = vectors.get(trial_id)
                if self.config.objectives:  # several objectives: the maximising vector
                    values = maximising(self.config, reported) if ok and reported else None
                    obs = replace(
                        obs,
                        value=values[0] if values else None,
                        values=values,
                        feasible=values is None or self.config.feasible(reported),
                    )
                observations.append(obs)
            self.strategy.observe(observations)
        if stale_generation is not None and stale_generation != self.stale_generation:
            self.stale_generation = stale_generation
            self.pending_stale = True
        if self.pending_stale:
            self.pending = {t.id: self.parse(t.arch) for t in batch.pending(self.name)}
            self.pending_stale = False
        self.queued = {i: self.parse(text) for i, text in batch.queued(self.name)}
