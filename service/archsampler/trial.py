"""The trial data model: immutable value objects shared by storage, strategies and servicer."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from archsampler.errors import InvalidArgumentError


class TrialState(enum.IntEnum):
    """Lifecycle of a trial. Values match the wire enum `archsampler.v1.TrialState`."""

    PENDING = 1
    COMPLETED = 2
    FAILED = 3
    INFEASIBLE = 4
    STALE = 5
    STOPPED = 6  # stopped early: its value is its last intermediate value
    QUEUED = 7  # enqueued (or a retryable failure's retry): proposed before anything else

    def is_finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset(
    (TrialState.COMPLETED, TrialState.FAILED, TrialState.INFEASIBLE, TrialState.STOPPED)
)
EVIDENCE = frozenset((TrialState.COMPLETED, TrialState.STOPPED))
"""States whose value the strategies learn from (a STOPPED value is partial evidence)."""


@dataclass(frozen=True, slots=True)
class WarmStart:
    """A warm-start hint: the COMPLETED trial nearest to a proposed architecture."""

    trial_id: int
    arch: str
    distance: int  # decisions (token positions) that differ
    checkpoint_uri: str
    value: float


@dataclass(frozen=True)
class Trial:
    """One architecture proposed to (or told by) a trainer, and its outcome.

    `arch` is the canonical string of the study's space; `params` its structured form;
    `arch_hash` the canonical hash (equal for isomorphic architectures).
    """

    id: int
    study_name: str
    number: int
    state: TrialState
    arch: str
    arch_hash: str
    params: dict[str, Any]
    value: float | None = None
    predicted_value: float | None = None
    region: str = ""
    client_id: str = ""
    checkpoint_uri: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    finished_at: float | None = None
    lease_expires_at: float | None = None
    # Proposals only: the nearest evaluated architecture (`archsampler.warmstart`).
    warm_start: WarmStart | None = field(default=None, compare=False)
    # Several objectives: {name: value} as reported (`value` is the first objective's).
    values: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(self.value):
            raise InvalidArgumentError(f"trial value must be finite, got {self.value!r}")
        if self.value is None and self.state == TrialState.COMPLETED:
            raise InvalidArgumentError("a COMPLETED trial needs a value")


@dataclass(frozen=True)
class Outcome:
    """What a trainer reports: a value, a failure, infeasibility, or a stop (STOPPED: its
    value, when None, is the trial's last intermediate value, read when it is stored)."""

    state: TrialState
    value: float | None = None
    checkpoint_uri: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    retryable: bool = False  # FAILED only: queue the architecture again (max_retries)
    values: dict[str, float] | None = None  # several objectives (COMPLETED/STOPPED only)

    def __post_init__(self) -> None:
        if self.retryable and self.state != TrialState.FAILED:
            raise InvalidArgumentError("only a failure can be retryable")
        if self.state not in FINISHED:
            raise InvalidArgumentError(f"an outcome cannot be {self.state.name}")
        if self.state == TrialState.COMPLETED or (
            self.state == TrialState.STOPPED and self.value is not None
        ):
            if self.value is None or not math.isfinite(self.value):
                raise InvalidArgumentError(f"value must be a finite number, got {self.value!r}")
        elif self.state != TrialState.STOPPED and self.value is not None:
            raise InvalidArgumentError(f"a {self.state.name} report carries no value")

    @property
    def is_stop(self) -> bool:
        return self.state == TrialState.STOPPED

    def matches(self, trial: Trial) -> bool:
        """True when `trial` already records exactly this outcome (idempotent re-report)."""
        return (
            trial.state == self.state
            and (trial.value == self.value or (self.value is None and self.is_stop))
            and trial.checkpoint_uri == self.checkpoint_uri
            and trial.metadata == self.metadata
            and (trial.values or None) == (self.values or None)
        )
