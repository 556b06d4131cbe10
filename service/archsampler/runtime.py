"""In-memory state of one study: space, strategy, pending architectures, catch-up position.

Only the group-commit writer thread touches a runtime, always inside an open batch, so
there is no locking here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from archsampler.spaces import SearchSpace
from archsampler.spaces import make_space
from archsampler.spaces.base import Arch
from archsampler.storage.batch import SQLBatch
from archsampler.strategies import Observation
from archsampler.strategies import Strategy
from archsampler.strategies import make_strategy
from archsampler.trial import TrialState


@dataclass
class StudyRuntime:
    """A study's strategy, kept in step with storage through `sync`."""

    name: str
    created_at: float
    config: dict[str, Any]
    space: SearchSpace
    strategy: Strategy
    seq: int = 0
    pending: dict[int, Arch] = field(default_factory=dict)
    pending_stale: bool = True
    model: Any = None  # the ModelHandle last handed to the strategy
    _parsed: dict[str, Arch] = field(default_factory=dict)

    @classmethod
    def load(cls, batch: SQLBatch, name: str) -> StudyRuntime:
        """Build the runtime of study `name` from its stored config (trials come via `sync`)."""
        row = batch.study(name)
        config = json.loads(row.config_json)
        space = make_space(config["space"])
        strategy = make_strategy(
            config["strategy"], space, seed=config["seed"], options=config["strategy_options"]
        )
        return cls(name, row.created_at, config, space, strategy)

    @property
    def sign(self) -> float:
        """+1 when the study maximises; strategies always maximise."""
        return 1.0 if self.config["goal"] == "maximize" else -1.0

    def parse(self, text: str) -> Arch:
        arch = self._parsed.get(text)
        if arch is None:
            arch = self._parsed[text] = self.space.from_string(text)
        return arch

    def sync(self, batch: SQLBatch) -> None:
        """Feed the strategy every trial finished since the last sync; refresh pending."""
        rows, self.seq = batch.finished_rows(self.name, self.seq)
        if rows:
            observations = []
            for trial_id, text, state, value in rows:
                arch = self.pending.pop(trial_id, None)
                ok = state == TrialState.COMPLETED and value is not None
                observations.append(
                    Observation(
                        self.parse(text) if arch is None else arch,
                        self.sign * value if ok else None,
                    )
                )
            self.strategy.observe(observations)
        if self.pending_stale:
            self.pending = {t.id: self.parse(t.arch) for t in batch.pending(self.name)}
            self.pending_stale = False
