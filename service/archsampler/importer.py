"""Bulk import (`TellMany`) and transfer between studies (`CreateStudy(seed_from=…)`).

Rules of a bulk import request (at most `MAX_ROWS` rows):

* Every row is validated first (its outcome, its architecture in the study's space, and
  against the study: an architecture already PENDING, or evaluated with another outcome, is
  refused). One bad row refuses the request: nothing of it is imported and the error lists
  the first `MAX_LISTED` bad rows by line number. Otherwise all rows commit in ONE
  transaction.
* Idempotent: a row whose architecture is already evaluated with exactly this outcome
  (state, value, checkpoint_uri, metadata) is left unchanged (`created` false); so is a
  repeat of an earlier row of the same request. Re-importing a file changes nothing.
* `validate_only` runs every check on a read transaction, imports nothing, and answers
  each row's problem in band.

A transfer copies the source study's finished trials (COMPLETED, FAILED, INFEASIBLE: value,
checkpoint_uri, metadata) in id order, `SEED_CHUNK` per transaction; an architecture the
target already has live (pending or finished, any outcome) is skipped, so seeding again is
a no-op and an interrupted seed is finished by creating the study again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import Callable
from typing import Sequence

from archsampler.errors import AlreadyExistsError
from archsampler.errors import ArchSamplerError
from archsampler.errors import InvalidArgumentError
from archsampler.spaces import SearchSpace
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState

MAX_ROWS = 1000  # rows per TellMany request
MAX_LISTED = 10  # bad rows named in one error message (it travels in a header: keep small)
MAX_ROW_ERROR = 240  # characters of one row's error in that message
MAX_SEED = 100_000  # trials a seed source may hold
SEED_CHUNK = 1000  # trials copied per transaction
FINISHED = (TrialState.COMPLETED, TrialState.FAILED, TrialState.INFEASIBLE)

Parse = Callable[[SearchSpace, str, dict[str, Any]], Any]


@dataclass(frozen=True)
class Row:
    """A row to import: an architecture (text and/or params) and its outcome, or the error
    its conversion from the wire met."""

    line: int
    text: str = ""
    params: dict[str, Any] | None = None
    outcome: Outcome | None = None
    error: str = ""


@dataclass(frozen=True)
class RowResult:
    line: int
    created: bool
    trial: Trial | None = None
    error: str = ""


def _outcome_text(state: TrialState, value: float | None) -> str:
    return state.name + ("" if value is None else f" with value {value!r}")


def _conflict(existing: Trial, outcome: Outcome) -> str:
    """Why a row cannot be imported over the live trial `existing` ("" when it is the same)."""
    if existing.state == TrialState.PENDING:
        return (
            f"the architecture is pending as trial {existing.id}: report it instead of "
            "importing it"
        )
    if outcome.matches(existing):
        return ""
    return (
        f"the architecture is already {_outcome_text(existing.state, existing.value)} "
        f"(trial {existing.id}); this row says {_outcome_text(outcome.state, outcome.value)}"
        + (
            ""
            if outcome.state != existing.state or outcome.value != existing.value
            else " with another checkpoint_uri or metadata"
        )
    )


def _refusal(results: list[RowResult], only_conflicts: bool) -> ArchSamplerError:
    bad = [r for r in results if r.error]
    listed = "; ".join(f"line {r.line}: {r.error[:MAX_ROW_ERROR]}" for r in bad[:MAX_LISTED])
    more = f" (and {len(bad) - MAX_LISTED} more)" if len(bad) > MAX_LISTED else ""
    message = f"{len(bad)} of {len(results)} rows refused, nothing imported: {listed}{more}"
    return AlreadyExistsError(message) if only_conflicts else InvalidArgumentError(message)


def import_rows(
    storage: SQLStorage,
    space: SearchSpace,
    study: str,
    rows: Sequence[Row],
    parse: Parse,
    *,
    validate_only: bool = False,
) -> list[RowResult]:
    """Validate `rows`, then import them all in one transaction (see the module docstring).

    Raises:
        InvalidArgumentError: a row is malformed (or too many rows); nothing imported.
        AlreadyExistsError: the only problems are architectures live with another outcome.
    """
    if not 1 <= len(rows) <= MAX_ROWS:
        raise InvalidArgumentError(f"give 1..{MAX_ROWS} rows per request, got {len(rows)}")
    errors: dict[int, str] = {}
    conflicts: set[int] = set()  # rows refused only because the study has them otherwise
    new: dict[int, NewTrial] = {}
    first: dict[str, int] = {}  # arch hash -> index of its first row
    for i, row in enumerate(rows):
        if row.error or row.outcome is None:
            errors[i] = row.error or "no outcome"
            continue
        try:
            arch = parse(space, row.text, row.params or {})
        except ArchSamplerError as e:
            errors[i] = str(e)
            continue
        trial = NewTrial(
            arch=space.to_string(arch),
            arch_hash=space.canonical_hash(arch),
            params=space.to_params(arch),
            state=row.outcome.state,
            value=row.outcome.value,
            checkpoint_uri=row.outcome.checkpoint_uri,
            metadata=row.outcome.metadata,
        )
        earlier = first.setdefault(trial.arch_hash, i)
        if earlier != i and rows[earlier].outcome != row.outcome:
            errors[i] = f"the same architecture as line {rows[earlier].line} with another outcome"
        new[i] = trial
    hashes = [t.arch_hash for t in new.values()]
    with storage.read_batch() if validate_only else storage.batch() as b:
        live = b.live_by_hash(study, hashes)
        for i, trial in new.items():
            existing = live.get(trial.arch_hash)
            if existing is not None and i not in errors:
                problem = _conflict(existing, rows[i].outcome)  # type: ignore[arg-type]
                if problem:
                    errors[i] = problem
                    conflicts.add(i)
        results = [
            RowResult(row.line, i in new and i not in errors, error=errors.get(i, ""))
            for i, row in enumerate(rows)
        ]
        fresh = [
            i
            for i, t in new.items()
            if i not in errors and t.arch_hash not in live and first[t.arch_hash] == i
        ]
        if validate_only:
            return [RowResult(r.line, i in fresh, error=r.error) for i, r in enumerate(results)]
        if errors:
            raise _refusal(results, set(errors) <= conflicts)
        inserted = b.insert(study, [new[i] for i in fresh])
        stored: dict[str, Trial] = dict(live)
        for i, trial in zip(fresh, inserted, strict=True):
            if trial is None:  # made live meanwhile (a proposal): refuse the whole request
                raise AlreadyExistsError(
                    f"line {rows[i].line}: the architecture became live in study "
                    f"{study[:128]!r} meanwhile; nothing imported, retry"
                )
            stored[trial.arch_hash] = trial
    return [
        RowResult(row.line, i in fresh, stored[new[i].arch_hash]) for i, row in enumerate(rows)
    ]


def seed(storage: SQLStorage, source: str, target: str) -> int:
    """Copy `source`'s finished trials into `target` (same space: checked by the caller);
    returns how many were created. Idempotent (see the module docstring)."""
    created = 0
    after = 0
    while True:
        trials = storage.list_trials(source, states=FINISHED, after_id=after, limit=SEED_CHUNK)
        if not trials:
            return created
        after = trials[-1].id
        with storage.batch() as b:
            live = b.live_by_hash(target, [t.arch_hash for t in trials])
            copies = [
                NewTrial(
                    arch=t.arch,
                    arch_hash=t.arch_hash,
                    params=t.params,
                    state=t.state,
                    value=t.value,
                    checkpoint_uri=t.checkpoint_uri,
                    metadata=t.metadata,
                )
                for t in trials
                if t.arch_hash not in live
            ]
            if copies:
                # a repeat (or a proposal racing in) comes back None and is skipped
                created += sum(t is not None for t in b.insert(target, copies))
