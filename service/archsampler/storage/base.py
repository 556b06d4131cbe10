"""The storage contract: studies and their trials, durable before anything is acknowledged."""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from typing import Callable
from typing import Protocol
from typing import Sequence
from typing import runtime_checkable

from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState

DEFAULT_NAMESPACE = "default"
"""The namespace of studies created with auth off (and of studies older than namespaces)."""


@dataclass(frozen=True)
class StudyRecord:
    """A stored study: its name, its normalised config, and trial counts."""

    name: str
    config: dict[str, Any]
    created_at: float
    trial_count: int = 0
    completed_count: int = 0
    pending_count: int = 0
    namespace: str = DEFAULT_NAMESPACE  # the tenant that owns the study
    id: int = 0  # storage id: list pages follow it


@dataclass(frozen=True)
class NewTrial:
    """A trial about to be inserted (by Propose or Tell)."""

    arch: str
    arch_hash: str
    params: dict[str, Any]
    state: TrialState = TrialState.PENDING
    value: float | None = None
    predicted_value: float | None = None
    region: str = ""
    client_id: str = ""
    request_id: str | None = None
    checkpoint_uri: str = ""
    metadata: dict[str, str] | None = None
    lease_seconds: float | None = None
    queued_id: int | None = None  # take this QUEUED trial (PENDING now) instead of inserting
    values: dict[str, float] | None = None  # several objectives: {name: value} (Tell)


@runtime_checkable
class Transaction(Protocol):
    """One transaction of the study workflow — what the proposal lanes, the writer and the
    study runtimes read and write, and nothing else (`SQLBatch` implements it; obtained from
    `Storage.batch()` (writes, committed when the block exits) or `Storage.read_batch()`)."""

    def study(self, name: str) -> Any:
        """The study row (id, config, revision, next number); NotFoundError when missing."""

    def finish(self, items: Sequence[tuple[str, int, Outcome]]) -> list[Trial | Exception]:
        """Apply reports `(study, trial id, outcome)` in order: each the stored trial or
        its error."""

    def insert(self, name: str, trials: Sequence[NewTrial]) -> list[Trial | None]:
        """Insert trials, or take QUEUED ones; None where the architecture is live."""

    def finished_rows(self, name: str, seq: int) -> tuple[list[Any], int]:
        """Trials finished after revision `seq`, and the revision read."""

    def pending(self, name: str) -> list[Trial]:
        """The study's PENDING trials."""

    def queued(self, name: str) -> list[tuple[int, str]]:
        """(id, arch) of the study's QUEUED trials, oldest first."""

    def by_request(self, name: str, request_ids: Sequence[str]) -> dict[str, list[Trial]]:
        """Trials created earlier by Propose calls with these idempotency keys."""

    def expire(self, now: float) -> int:
        """Turn PENDING trials whose lease ended before `now` STALE; how many."""


class Storage(abc.ABC):
    """Durable studies and trials.

    Contract:
        * Thread-safe: every method may be called from any thread concurrently.
        * Every write is one transaction; a method returns only after it committed.
        * Returned objects are immutable snapshots; finished trials never change again,
          except that a STALE trial may still be finished by a late report.
        * An architecture (by canonical hash) is live — PENDING or finished — at most once
          per study; inserting a duplicate raises `AlreadyExistsError` and inserts nothing.

    Raises (every method): `NotFoundError` for unknown studies or trials, `StorageError` when
    the backend fails.
    """

    @abc.abstractmethod
    def batch(self) -> AbstractContextManager[Transaction]:
        """One write transaction of the workflow (group commit), committed on exit."""

    @abc.abstractmethod
    def read_batch(self) -> AbstractContextManager[Transaction]:
        """One read-only transaction of the workflow (a consistent snapshot)."""

    @abc.abstractmethod
    def create_study(
        self,
        name: str,
        config: dict[str, Any],
        namespace: str = DEFAULT_NAMESPACE,
        *,
        check_existing: Callable[[str], None] | None = None,
    ) -> tuple[StudyRecord, bool]:
        """Create `name` in `namespace`, or load it when it exists with an equal config.

        Names are unique across namespaces. When `name` exists, `check_existing(its
        namespace)` runs first (before configs are compared) and may raise to refuse.

        Returns:
            The study and whether it was created.

        Raises:
            AlreadyExistsError: `name` exists with a different config; the message names
                the first differing field.
        """

    @abc.abstractmethod
    def get_study(self, name: str) -> StudyRecord: ...

    @abc.abstractmethod
    def study_namespace(self, name: str) -> str:
        """The namespace of study `name` (one indexed read, no trial counts)."""

    @abc.abstractmethod
    def list_studies(
        self, *, namespace: str | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[StudyRecord]:
        """Studies with id > `after_id` in id order, of `namespace` only unless it is None."""

    @abc.abstractmethod
    def delete_study(
        self, name: str, *, check_existing: Callable[[str], None] | None = None
    ) -> None:
        """Delete `name` and its trials; `check_existing(its namespace)` runs first, in the
        same transaction, and may raise to refuse."""

    @abc.abstractmethod
    def add_trials(self, study: str, trials: Sequence[NewTrial]) -> list[Trial]:
        """Insert trials atomically (all or none), numbered in order."""

    @abc.abstractmethod
    def get_trial(self, study: str, trial_id: int) -> Trial:
        """Trial `trial_id` of `study` (another study's trial is not found, like a missing one)."""

    @abc.abstractmethod
    def finish_trial(self, study: str, trial_id: int, outcome: Outcome) -> Trial:
        """Record the outcome of a PENDING or STALE trial of `study`.

        Idempotent: when the trial already records exactly `outcome`, returns it unchanged.

        Raises:
            AlreadyExistsError: the trial was already finished with a different outcome.
        """

    @abc.abstractmethod
    def heartbeat(self, study: str, trial_id: int, lease_seconds: float) -> Trial:
        """Extend the lease of a PENDING trial of `study` to now + `lease_seconds`.

        Raises:
            FailedPreconditionError: the trial is not PENDING.
        """

    @abc.abstractmethod
    def add_intermediate(
        self, study: str, trial_id: int, step: int, value: float, limit: int = 10_000
    ) -> Trial:
        """Record `value` at `step` of a PENDING trial (the same pair again: no change).

        Raises:
            FailedPreconditionError: not PENDING, or `limit` values recorded already.
            AlreadyExistsError: another value is recorded at `step`.
        """

    @abc.abstractmethod
    def intermediate_values(self, study: str, trial_id: int) -> list[tuple[int, float]]:
        """A trial's `(step, value)` pairs in step order."""

    @abc.abstractmethod
    def values_at_step(
        self, study: str, step: int, exclude_trial: int, states: Sequence[TrialState] = ()
    ) -> list[float]:
        """The values other trials of `study` (in `states`; all when empty) recorded at
        `step`."""

    @abc.abstractmethod
    def release(self, study: str, trial_id: int) -> Trial:
        """Turn a PENDING trial STALE now (its architecture may be proposed again).

        Raises FailedPreconditionError when it is not PENDING."""

    @abc.abstractmethod
    def expire_leases(self, now: float | None = None) -> int:
        """Mark PENDING trials whose lease ran out as STALE; returns how many."""

    @abc.abstractmethod
    def list_trials(
        self,
        study: str,
        *,
        states: Sequence[TrialState] = (),
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[Trial]:
        """Trials with id > `after_id` in id order, optionally filtered by state."""

    @abc.abstractmethod
    def best_trial(self, study: str, maximize: bool) -> Trial:
        """The best COMPLETED trial. Raises `NotFoundError` when there is none."""
