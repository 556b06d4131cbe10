"""A group-commit unit of work: many reports and proposals in one SQL transaction.

The writer's hot path, so it speaks plain SQL over the DBAPI cursor of the transaction
(no ORM, no statement compilation per call); the SQL is portable between SQLite and
PostgreSQL and only the placeholder style differs. Per-item failures (unknown trial,
conflicting report, architecture already live) are returned, not raised, so one bad item
never rolls back the others. `SQLStorage.read_batch` opens the same interface on a
read-only transaction (no locks taken): what the proposal lanes sync their strategies
through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from typing import NamedTuple
from typing import Sequence

from archsampler.errors import AlreadyExistsError
from archsampler.errors import FailedPreconditionError
from archsampler.errors import NotFoundError
from archsampler.storage.base import NewTrial
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState

# Columns of a full trial, in the order `_trial` reads them.
TRIAL_COLUMNS = (
    "id, number, state, arch, arch_hash, params_json, value, predicted_value, region, "
    "client_id, checkpoint_uri, metadata_json, created_at, finished_at, lease_expires_at"
)
_WITH_VALUES = TRIAL_COLUMNS + ", values_json"
_INSERT_COLUMNS = (
    "study_id",
    "number",
    "state",
    "arch",
    "arch_hash",
    "dedup_key",
    "params_json",
    "value",
    "predicted_value",
    "region",
    "client_id",
    "request_id",
    "checkpoint_uri",
    "metadata_json",
    "created_at",
    "finished_at",
    "finished_seq",
    "lease_expires_at",
)
INSERT_CHUNK = 500  # rows per INSERT statement (18 placeholders each)


def trial_not_found(study: str, trial_id: int) -> NotFoundError:
    """The error for a trial id that is not one of `study`'s (missing or another study's)."""
    return NotFoundError(f"trial {trial_id} not found in study {study[:128]!r}")


def _meta_text(metadata: dict[str, str] | None) -> str:
    """Stored form of trial metadata (most trials have none: skip the encoder)."""
    return json.dumps(metadata, sort_keys=True) if metadata else "{}"


def _meta(text: str) -> dict[str, str]:
    return {} if text == "{}" else json.loads(text)


def to_trial(row: Any, study_name: str) -> Trial:
    """A `Trial` from an ORM row of the trials table."""
    return Trial(
        id=row.id,
        study_name=study_name,
        number=row.number,
        state=TrialState(row.state),
        arch=row.arch,
        arch_hash=row.arch_hash,
        params=json.loads(row.params_json),
        value=row.value,
        predicted_value=row.predicted_value,
        region=row.region,
        client_id=row.client_id,
        checkpoint_uri=row.checkpoint_uri,
        metadata=json.loads(row.metadata_json),
        created_at=row.created_at,
        finished_at=row.finished_at,
        lease_expires_at=row.lease_expires_at,
        values=json.loads(row.values_json) if row.values_json else None,
    )


def _trial(row: Sequence[Any], study_name: str, values_json: str | None = None) -> Trial:
    """A `Trial` from a row selected as `TRIAL_COLUMNS` (and its `values_json`, if given)."""
    return Trial(
        id=row[0],
        study_name=study_name,
        number=row[1],
        state=TrialState(row[2]),
        arch=row[3],
        arch_hash=row[4],
        params=json.loads(row[5]),
        value=row[6],
        predicted_value=row[7],
        region=row[8],
        client_id=row[9],
        checkpoint_uri=row[10],
        metadata=_meta(row[11]),
        created_at=row[12],
        finished_at=row[13],
        lease_expires_at=row[14],
        values=json.loads(values_json) if values_json else None,
    )


_OBJECTIVES: dict[str, Any] = {}  # config_json -> StudyConfig (several objectives only)


def _check_objectives(config_json: str, outcome: Outcome) -> Outcome | Exception:
    """`outcome` checked against its study's objectives: several objectives need exactly the
    declared objective values (then `value` is the first one's), one objective none."""
    if outcome.values is None and '"objectives"' not in config_json:
        return outcome  # the common case: one objective, a plain value
    from archsampler.config import StudyConfig
    from archsampler.errors import InvalidArgumentError
    from archsampler.objectives import check_values

    config = _OBJECTIVES.get(config_json)
    if config is None:
        if len(_OBJECTIVES) >= 256:
            _OBJECTIVES.clear()
        config = _OBJECTIVES[config_json] = StudyConfig.from_dict(json.loads(config_json))
    if not config.objectives and outcome.values is None:
        return outcome
    if outcome.values is None and outcome.state not in (TrialState.COMPLETED,):
        return outcome  # failed / infeasible / stopped at its last intermediate value
    try:
        values = check_values(config, outcome.values, outcome.values is None, "objective_values")
    except InvalidArgumentError as exc:
        return exc
    assert values is not None
    return dataclasses.replace(outcome, value=values[config.objective_names[0]], values=values)


@dataclass
class StudyRow:
    """The `studies` row of a study, as this transaction sees and will write it."""

    id: int
    name: str
    config_json: str
    created_at: float
    revision: int
    next_number: int
    dirty: bool = False


class FinishedRow(NamedTuple):
    id: int
    arch: str
    state: int
    value: float | None
    metadata_json: str | None = None


class SQLBatch:
    """Writes inside one open transaction of `SQLStorage.batch()`, on its DBAPI cursor.

    With `read_only` (see `SQLStorage.read_batch`) rows are read without locks; write nothing.
    """

    def __init__(self, cursor: Any, dialect: str, read_only: bool = False) -> None:
        self.cur = cursor
        self.dialect = dialect
        self._for_update = " FOR UPDATE" if dialect == "postgresql" and not read_only else ""
        self._studies: dict[str, StudyRow] = {}
        self._bumped: set[int] = set()
        self._savepoints = 0

    def _sql(self, sql: str) -> str:
        """`?` placeholders in the driver's style."""
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.cur.execute(self._sql(sql), params)
        return self.cur

    # -- studies ------------------------------------------------------------------------
    def study(self, name: str) -> StudyRow:
        """The study row, locked for this transaction. Raises NotFoundError."""
        row = self._studies.get(name)
        if row is None:
            found = self._execute(
                "SELECT id, name, config_json, created_at, revision, next_number FROM studies "
                "WHERE name = ?" + self._for_update,
                (name,),
            ).fetchone()
            if found is None:
                raise NotFoundError(f"study {name!r} not found")
            row = self._studies[name] = StudyRow(*found)
        return row

    def _revision(self, study: StudyRow) -> int:
        """This transaction's revision of `study` (bumped once per batch)."""
        if study.id not in self._bumped:
            study.revision += 1
            study.dirty = True
            self._bumped.add(study.id)
        return study.revision

    def write_studies(self) -> None:
        """Store the revision and numbering of every study this batch changed."""
        dirty = [s for s in self._studies.values() if s.dirty]
        if dirty:
            self.cur.executemany(
                self._sql("UPDATE studies SET revision = ?, next_number = ? WHERE id = ?"),
                [(s.revision, s.next_number, s.id) for s in dirty],
            )
            for s in dirty:
                s.dirty = False

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an exception inside undoes only its writes, then re-raises."""
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        before = {k: (s.revision, s.next_number, s.dirty) for k, s in self._studies.items()}
        bumped = set(self._bumped)
        self.cur.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.cur.execute(f"RELEASE SAVEPOINT {name}")
            for key in list(self._studies):
                if key in before:
                    s = self._studies[key]
                    s.revision, s.next_number, s.dirty = before[key]
                else:
                    del self._studies[key]  # its lock is kept; it is re-read if needed
            self._bumped = bumped
            raise
        self.cur.execute(f"RELEASE SAVEPOINT {name}")

    # -- reports ------------------------------------------------------------------------
    def finish(self, items: Sequence[tuple[str, int, Outcome]]) -> list[Trial | Exception]:
        """Apply `(study, trial id, outcome)` reports in order; each result is the stored
        trial or the error for it. A trial of another study is not found, like a missing one."""
        if not items:
            return []
        ids = sorted({trial_id for _, trial_id, _ in items})
        found = self._execute(
            f"SELECT t.{TRIAL_COLUMNS.replace(', ', ', t.')}, t.study_id, t.dedup_key, s.name "
            "FROM trials t JOIN studies s ON s.id = t.study_id "
            f"WHERE t.id IN ({', '.join('?' * len(ids))}){self._for_update}",
            ids,
        ).fetchall()
        rows: dict[int, list[Any]] = {r[0]: list(r) for r in found}
        results: list[Trial | Exception] = []
        changed: dict[int, list[Any]] = {}
        requeue: list[tuple[str, NewTrial]] = []
        vectors: list[tuple[str, int]] = []  # (values_json, id): several objectives
        now = time.time()
        for study_name, trial_id, outcome in items:
            row = rows.get(trial_id)
            if row is None or row[17] != study_name:
                results.append(trial_not_found(study_name, trial_id))
                continue
            checked = _check_objectives(self.study(study_name).config_json, outcome)
            if isinstance(checked, Exception):
                results.append(checked)
                continue
            outcome = checked
            state = TrialState(row[2])
            if state.is_finished():
                current = self._with_values(_trial(row, study_name))
                if outcome.matches(current):
                    results.append(current)
                else:
                    results.append(
                        AlreadyExistsError(
                            f"trial {trial_id} was already reported as {state.name}"
                            + (f" with value {row[6]}" if row[6] is not None else "")
                            + "; a different report is refused"
                        )
                    )
                continue
            value = outcome.value
            if outcome.is_stop and value is None:
                value = self._last_intermediate(trial_id)
                if value is None:
                    results.append(
                        FailedPreconditionError(
                            f"trial {trial_id} has no intermediate value to stop at; report "
                            "stopped with a value"
                        )
                    )
                    continue
            dedup = row[16]
            if state == TrialState.STALE:
                # A late report still counts; it stays live unless the arch was re-proposed.
                clash = self._execute(
                    "SELECT id FROM trials WHERE study_id = ? AND dedup_key = ?",
                    (row[15], row[4]),
                ).fetchone()
                dedup = None if clash is not None else row[4]
            if outcome.retryable:
                again = self._retry(study_name, row, trial_id)
                if again is not None:
                    dedup = None  # the architecture lives on in its QUEUED retry
                    requeue.append((study_name, again))
            row[2] = int(outcome.state)
            row[6] = value
            row[10] = outcome.checkpoint_uri
            row[11] = _meta_text(outcome.metadata)
            row[13] = now
            row[14] = None
            row[16] = dedup
            changed[trial_id] = row + [self._revision(self.study(study_name))]
            trial = _trial(row, study_name)
            if outcome.values:
                vectors.append((json.dumps(outcome.values), trial_id))
                trial = dataclasses.replace(trial, values=dict(outcome.values))
            results.append(trial)
        if changed:
            self.cur.executemany(
                self._sql(
                    "UPDATE trials SET state = ?, value = ?, dedup_key = ?, checkpoint_uri = ?, "
                    "metadata_json = ?, finished_at = ?, lease_expires_at = NULL, "
                    "finished_seq = ? WHERE id = ?"
                ),
                [(r[2], r[6], r[16], r[10], r[11], r[13], r[18], i) for i, r in changed.items()],
            )
        if vectors:
            self.cur.executemany(
                self._sql("UPDATE trials SET values_json = ? WHERE id = ?"), vectors
            )
        for study_name, again in requeue:  # after the failures freed their architectures
            self.insert(study_name, [again])
        return results

    def values_of(self, ids: Sequence[int]) -> dict[int, dict[str, float]]:
        """Stored objective values of trials `ids` (those that have any), 500 ids a query."""
        out: dict[int, dict[str, float]] = {}
        for s in range(0, len(ids), 500):
            chunk = list(ids[s : s + 500])
            rows = self._execute(
                f"SELECT id, values_json FROM trials WHERE id IN ({', '.join('?' * len(chunk))}) "
                "AND values_json IS NOT NULL",
                chunk,
            ).fetchall()
            out.update((r[0], json.loads(r[1])) for r in rows)
        return out

    def _with_values(self, trial: Trial) -> Trial:
        """`trial` with its stored objective values (several objectives), if any."""
        row = self._execute("SELECT values_json FROM trials WHERE id = ?", (trial.id,)).fetchone()
        if row is None or not row[0]:
            return trial
        return dataclasses.replace(trial, values=json.loads(row[0]))

    def _retry(self, study_name: str, row: list[Any], trial_id: int) -> NewTrial | None:
        """The QUEUED retry of a retryable failure, while the study's `max_retries`
        allows one more for this architecture; None when the failure is final."""
        study = self.study(study_name)
        limit = int(json.loads(study.config_json).get("max_retries", 0))
        failed = self._execute(
            "SELECT COUNT(*) FROM trials WHERE study_id = ? AND arch_hash = ? AND state = ?",
            (study.id, row[4], int(TrialState.FAILED)),
        ).fetchone()[0]
        attempt = int(failed) + 1  # this failure included
        if attempt > limit:
            return None
        return NewTrial(
            arch=row[3],
            arch_hash=row[4],
            params=json.loads(row[5]),
            state=TrialState.QUEUED,
            metadata={"retry_of": str(trial_id), "retry": f"{attempt} of {limit}"},
        )

    def _last_intermediate(self, trial_id: int) -> float | None:
        found = self._execute(
            "SELECT value FROM intermediate_values WHERE trial_id = ? ORDER BY step DESC LIMIT 1",
            (trial_id,),
        ).fetchone()
        return None if found is None else float(found[0])

    # -- reads for the strategies -------------------------------------------------------
    def finished_rows(self, name: str, seq: int) -> tuple[list[FinishedRow], int]:
        """(id, arch, state, value, metadata JSON) of trials finished after revision `seq` up
        to the study's revision as read here, and that revision (later commits wait for the
        next call, also where each statement sees newer commits)."""
        study = self.study(name)
        rows = self._execute(
            "SELECT id, arch, state, value, metadata_json FROM trials WHERE study_id = ? "
            "AND finished_seq > ? "
            "AND finished_seq <= ? ORDER BY finished_seq, id",
            (study.id, seq, study.revision),
        ).fetchall()
        return [FinishedRow(*r) for r in rows], study.revision

    def completed_rows(
        self, name: str, seq: int, limit: int
    ) -> tuple[list[tuple[int, str, float, str]], int]:
        """(id, arch, value, checkpoint_uri) of the at most `limit` COMPLETED trials finished
        most recently after revision `seq` (up to the study's revision as read here, oldest
        first), and that revision. For warm-start hints."""
        study = self.study(name)
        rows = self._execute(
            "SELECT id, arch, value, checkpoint_uri FROM trials WHERE study_id = ? "
            "AND finished_seq > ? AND finished_seq <= ? AND state = ? "
            "ORDER BY finished_seq DESC, id DESC LIMIT ?",
            (study.id, seq, study.revision, int(TrialState.COMPLETED), limit),
        ).fetchall()
        return [tuple(r) for r in reversed(rows)], study.revision

    def finished_page(
        self, name: str, cursor: tuple[int, int], limit: int
    ) -> tuple[list[Trial], tuple[int, int]]:
        """At most `limit` trials of `name` finished after `cursor` (a revision and a trial
        id; start at (0, 0)) up to the study's revision as read here, in finish order with
        their objective values, and the cursor to read on from: fewer than `limit` trials
        means caught up. How a reader keeping its own summary catches up, a page at a time
        (a finished trial never changes)."""
        study = self.study(name)
        seq, after = cursor
        rows = self._execute(
            f"SELECT {_WITH_VALUES}, finished_seq FROM trials WHERE study_id = ? "
            "AND finished_seq >= ? AND finished_seq <= ? AND NOT (finished_seq = ? AND id <= ?) "
            "ORDER BY finished_seq, id LIMIT ?",
            (study.id, seq, study.revision, seq, after, limit),
        ).fetchall()
        trials = [_trial(r, name, r[15]) for r in rows]
        if len(rows) < limit:
            # read on from the next revision (never back: an older snapshot sees less)
            return trials, max((study.revision + 1, 0), cursor)
        return trials, (int(rows[-1][16]), int(rows[-1][0]))

    def state_counts(self, name: str) -> dict[TrialState, int]:
        """How many trials of `name` are in each state (every state, zeros included)."""
        study = self.study(name)
        rows = self._execute(
            "SELECT state, COUNT(*) FROM trials WHERE study_id = ? GROUP BY state", (study.id,)
        ).fetchall()
        counts = dict.fromkeys(TrialState, 0)
        counts.update((TrialState(state), int(n)) for state, n in rows)
        return counts

    def newest(self, name: str, limit: int) -> list[Trial]:
        """The `limit` trials of `name` created last (highest number first), with their
        values. By number, not id: (study, number) is indexed, so no sort of every trial."""
        study = self.study(name)
        rows = self._execute(
            f"SELECT {_WITH_VALUES} FROM trials WHERE study_id = ? ORDER BY number DESC LIMIT ?",
            (study.id, limit),
        ).fetchall()
        return [_trial(r, name, r[15]) for r in rows]

    def live_by_hash(self, name: str, hashes: Sequence[str]) -> dict[str, Trial]:
        """The live (pending or finished) trials of `name` with these canonical hashes."""
        study = self.study(name)
        out: dict[str, Trial] = {}
        unique = sorted(set(hashes))
        for start in range(0, len(unique), INSERT_CHUNK):
            chunk = unique[start : start + INSERT_CHUNK]
            rows = self._execute(
                f"SELECT {TRIAL_COLUMNS} FROM trials WHERE study_id = ? "
                f"AND dedup_key IN ({', '.join('?' * len(chunk))})",
                (study.id, *chunk),
            ).fetchall()
            out.update((r[4], _trial(r, name)) for r in rows)
        return out

    def pending(self, name: str) -> list[Trial]:
        study = self.study(name)
        rows = self._execute(
            f"SELECT {TRIAL_COLUMNS} FROM trials WHERE study_id = ? AND state = ?",
            (study.id, int(TrialState.PENDING)),
        ).fetchall()
        return [_trial(r, name) for r in rows]

    def by_request(self, name: str, request_ids: Sequence[str]) -> dict[str, list[Trial]]:
        """Trials created earlier by Propose calls with these idempotency keys."""
        study = self.study(name)
        rows = self._execute(
            f"SELECT {TRIAL_COLUMNS}, request_id FROM trials WHERE study_id = ? "
            f"AND request_id IN ({', '.join('?' * len(request_ids))}) ORDER BY id",
            (study.id, *request_ids),
        ).fetchall()
        out: dict[str, list[Trial]] = {}
        for r in rows:
            out.setdefault(r[15], []).append(_trial(r, name))
        return out

    # -- proposals and imports ----------------------------------------------------------
    def insert(self, name: str, trials: Sequence[NewTrial]) -> list[Trial | None]:
        """`_insert` (below), then the objective values of told trials (several objectives)."""
        out = self._insert(name, trials)
        vectors = [
            (json.dumps(t.values), r.id)
            for t, r in zip(trials, out, strict=True)
            if t.values and r is not None
        ]
        if not vectors:
            return out
        self.cur.executemany(self._sql("UPDATE trials SET values_json = ? WHERE id = ?"), vectors)
        return [
            dataclasses.replace(r, values=dict(t.values)) if t.values and r is not None else r
            for t, r in zip(trials, out, strict=True)
        ]

    def _insert(self, name: str, trials: Sequence[NewTrial]) -> list[Trial | None]:
        """Insert trials (pending, queued or already finished), or turn QUEUED trials
        PENDING (`NewTrial.queued_id`); None where the architecture is already live in the
        study, repeats one earlier in `trials`, or the queued trial was taken already
        (nothing is rolled back)."""
        if all(t.queued_id is None for t in trials):
            return self._insert_new(name, trials)
        fresh = iter(self._insert_new(name, [t for t in trials if t.queued_id is None]))
        return [next(fresh) if t.queued_id is None else self._take(name, t) for t in trials]

    def _take(self, name: str, t: NewTrial) -> Trial | None:
        """Turn the QUEUED trial `t.queued_id` PENDING for its proposer."""
        study = self.study(name)
        lease = time.time() + t.lease_seconds if t.lease_seconds else None
        row = self._execute(
            "UPDATE trials SET state = ?, client_id = ?, request_id = ?, predicted_value = ?, "
            "region = ?, lease_expires_at = ? WHERE id = ? AND study_id = ? AND state = ? "
            f"RETURNING {TRIAL_COLUMNS}",
            (int(TrialState.PENDING), t.client_id, t.request_id, t.predicted_value, t.region,
             lease, t.queued_id, study.id, int(TrialState.QUEUED)),
        ).fetchone()  # fmt: skip
        if row is None:
            return None
        self._revision(study)
        return _trial(row, name)

    def queued(self, name: str) -> list[tuple[int, str]]:
        """(id, arch) of the study's QUEUED trials, oldest first."""
        study = self.study(name)
        rows = self._execute(
            "SELECT id, arch FROM trials WHERE study_id = ? AND state = ? ORDER BY id",
            (study.id, int(TrialState.QUEUED)),
        ).fetchall()
        return [(int(i), str(a)) for i, a in rows]

    def _insert_new(self, name: str, trials: Sequence[NewTrial]) -> list[Trial | None]:
        study = self.study(name)
        now = time.time()
        revision = self._revision(study)
        rows: list[tuple[Any, ...]] = []
        made: list[tuple[NewTrial, int, float | None]] = []
        for t in trials:
            finished = t.state.is_finished()
            lease = now + t.lease_seconds if t.lease_seconds and not finished else None
            rows.append(
                (
                    study.id,
                    study.next_number,
                    int(t.state),
                    t.arch,
                    t.arch_hash,
                    t.arch_hash,
                    json.dumps(t.params, sort_keys=True),
                    t.value,
                    t.predicted_value,
                    t.region,
                    t.client_id,
                    t.request_id,
                    t.checkpoint_uri,
                    _meta_text(t.metadata),
                    now,
                    now if finished else None,
                    revision if finished else None,
                    lease,
                )
            )
            made.append((t, study.next_number, lease))
            study.next_number += 1
        ids: dict[str, int] = {}
        width = f"({', '.join('?' * len(_INSERT_COLUMNS))})"
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            self._execute(
                f"INSERT INTO trials ({', '.join(_INSERT_COLUMNS)}) VALUES "
                + ", ".join([width] * len(chunk))
                + " ON CONFLICT (study_id, dedup_key) DO NOTHING RETURNING id, arch_hash",
                [v for row in chunk for v in row],
            )
            ids.update((h, i) for i, h in self.cur.fetchall())
        out: list[Trial | None] = []
        for t, number, lease in made:
            trial_id = ids.pop(t.arch_hash, None)  # a repeat in `trials` finds none
            if trial_id is None:
                out.append(None)
                continue
            finished = t.state.is_finished()
            out.append(
                Trial(
                    id=trial_id,
                    study_name=name,
                    number=number,
                    state=t.state,
                    arch=t.arch,
                    arch_hash=t.arch_hash,
                    params=t.params,
                    value=t.value,
                    predicted_value=t.predicted_value,
                    region=t.region,
                    client_id=t.client_id,
                    checkpoint_uri=t.checkpoint_uri,
                    metadata=dict(t.metadata or {}),
                    created_at=now,
                    finished_at=now if finished else None,
                    lease_expires_at=lease,
                )
            )
        return out

    def expire(self, now: float) -> int:
        """Mark PENDING trials whose lease ended before `now` as STALE; how many."""
        self._execute(
            "UPDATE trials SET state = ?, dedup_key = NULL WHERE state = ? "
            "AND lease_expires_at IS NOT NULL AND lease_expires_at < ?",
            (int(TrialState.STALE), int(TrialState.PENDING), now),
        )
        return max(int(self.cur.rowcount or 0), 0)
