"""A group-commit unit of work: many reports and proposals in one SQL transaction.

Per-item failures (unknown trial, conflicting report, architecture already live) are
returned, not raised, so one bad item never rolls back the others.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any
from typing import Sequence

from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from archsampler.errors import AlreadyExistsError
from archsampler.errors import NotFoundError
from archsampler.storage.base import NewTrial
from archsampler.storage.models import StudyModel
from archsampler.storage.models import TrialModel
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState

_COLUMNS = [c for c in TrialModel.__table__.columns if c.name != "id"]


def to_trial(row: Any, study_name: str) -> Trial:
    """A `Trial` from an ORM row, a Core row, or a dict of the trials table's columns."""
    if isinstance(row, dict):
        row = SimpleNamespace(**row)
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
    )


class SQLBatch:
    """Writes inside one open transaction of `SQLStorage.batch()`."""

    def __init__(self, session: Session, dialect: str) -> None:
        self.s = session
        self.dialect = dialect
        self._studies: dict[str, StudyModel] = {}
        self._bumped: set[int] = set()

    def study(self, name: str) -> StudyModel:
        """The study row, locked for this transaction. Raises NotFoundError."""
        row = self._studies.get(name)
        if row is None:
            row = self.s.scalar(
                select(StudyModel).where(StudyModel.name == name).with_for_update()
            )
            if row is None:
                raise NotFoundError(f"study {name!r} not found")
            self._studies[name] = row
        return row

    def _revision(self, study: StudyModel) -> int:
        """This transaction's revision of `study` (bumped once per batch)."""
        if study.id not in self._bumped:
            study.revision += 1
            self._bumped.add(study.id)
        return study.revision

    def finish(self, items: Sequence[tuple[int, Outcome]]) -> list[Trial | Exception]:
        """Apply reports in order; each result is the stored trial or the error for it."""
        t = TrialModel.__table__
        conn = self.s.connection()
        found = conn.execute(
            select(t, StudyModel.name.label("study_name"))
            .join(StudyModel, StudyModel.id == t.c.study_id)
            .where(t.c.id.in_(sorted({trial_id for trial_id, _ in items})))
            .with_for_update()
        ).all()
        rows: dict[int, dict[str, Any]] = {r.id: dict(r._mapping) for r in found}
        results: list[Trial | Exception] = []
        changed: dict[int, dict[str, Any]] = {}
        now = time.time()
        for trial_id, outcome in items:
            row = rows.get(trial_id)
            if row is None:
                results.append(NotFoundError(f"trial {trial_id} not found"))
                continue
            state = TrialState(row["state"])
            if state.is_finished():
                current = to_trial(row, row["study_name"])
                if outcome.matches(current):
                    results.append(current)
                else:
                    results.append(
                        AlreadyExistsError(
                            f"trial {trial_id} was already reported as {state.name}"
                            + (f" with value {row['value']}" if row["value"] is not None else "")
                            + "; a different report is refused"
                        )
                    )
                continue
            dedup = row["dedup_key"]
            if state == TrialState.STALE:
                # A late report still counts; it stays live unless the arch was re-proposed.
                clash = conn.scalar(
                    select(t.c.id).where(
                        t.c.study_id == row["study_id"], t.c.dedup_key == row["arch_hash"]
                    )
                )
                dedup = None if clash is not None else row["arch_hash"]
            row.update(
                state=int(outcome.state),
                value=outcome.value,
                dedup_key=dedup,
                checkpoint_uri=outcome.checkpoint_uri,
                metadata_json=json.dumps(outcome.metadata, sort_keys=True),
                finished_at=now,
                lease_expires_at=None,
                finished_seq=self._revision(self.study(row["study_name"])),
            )
            changed[trial_id] = row
            results.append(to_trial(row, row["study_name"]))
        if changed:
            fields = (
                "state",
                "value",
                "dedup_key",
                "checkpoint_uri",
                "metadata_json",
                "finished_at",
                "lease_expires_at",
                "finished_seq",
            )
            conn.execute(
                update(t)
                .where(t.c.id == bindparam("b_id"))
                .values({f: bindparam(f"b_{f}") for f in fields}),
                [{"b_id": i, **{f"b_{f}": r[f] for f in fields}} for i, r in changed.items()],
            )
        return results

    def finished_rows(self, name: str, seq: int) -> tuple[list[Any], int]:
        """(id, arch, state, value) of trials finished after revision `seq`, and the revision."""
        study = self.study(name)
        t = TrialModel.__table__
        rows = (
            self.s.connection()
            .execute(
                select(t.c.id, t.c.arch, t.c.state, t.c.value)
                .where(t.c.study_id == study.id, t.c.finished_seq > seq)
                .order_by(t.c.finished_seq, t.c.id)
            )
            .all()
        )
        return list(rows), study.revision

    def pending(self, name: str) -> list[Trial]:
        study = self.study(name)
        rows = self.s.scalars(
            select(TrialModel).where(
                TrialModel.study_id == study.id, TrialModel.state == int(TrialState.PENDING)
            )
        )
        return [to_trial(r, name) for r in rows]

    def by_request(self, name: str, request_ids: Sequence[str]) -> dict[str, list[Trial]]:
        """Trials created earlier by Propose calls with these idempotency keys."""
        study = self.study(name)
        rows = self.s.scalars(
            select(TrialModel)
            .where(TrialModel.study_id == study.id, TrialModel.request_id.in_(request_ids))
            .order_by(TrialModel.id)
        ).all()
        out: dict[str, list[Trial]] = {}
        for r in rows:
            out.setdefault(r.request_id, []).append(to_trial(r, name))
        return out

    def insert(self, name: str, trials: Sequence[NewTrial]) -> list[Trial | None]:
        """Insert trials (pending or already finished); None where the architecture is
        already live in the study (nothing is rolled back)."""
        study = self.study(name)
        now = time.time()
        revision = self._revision(study)
        values = []
        for t in trials:
            finished = t.state.is_finished()
            values.append(
                {
                    "study_id": study.id,
                    "number": study.next_number,
                    "state": int(t.state),
                    "arch": t.arch,
                    "arch_hash": t.arch_hash,
                    "dedup_key": t.arch_hash,
                    "params_json": json.dumps(t.params, sort_keys=True),
                    "value": t.value,
                    "predicted_value": t.predicted_value,
                    "region": t.region,
                    "client_id": t.client_id,
                    "request_id": t.request_id,
                    "checkpoint_uri": t.checkpoint_uri,
                    "metadata_json": json.dumps(t.metadata or {}, sort_keys=True),
                    "created_at": now,
                    "finished_at": now if finished else None,
                    "finished_seq": revision if finished else None,
                    "lease_expires_at": (
                        now + t.lease_seconds if t.lease_seconds and not finished else None
                    ),
                }
            )
            study.next_number += 1
        if not values:
            return []
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = (
            insert(TrialModel)
            .on_conflict_do_nothing(index_elements=["study_id", "dedup_key"])
            .returning(TrialModel.__table__)
        )
        inserted = {r.arch_hash: r for r in self.s.connection().execute(stmt, values)}
        return [
            to_trial(inserted[t.arch_hash], name) if t.arch_hash in inserted else None
            for t in trials
        ]

    def expire(self, now: float) -> int:
        result = self.s.execute(
            update(TrialModel)
            .where(
                TrialModel.state == int(TrialState.PENDING),
                TrialModel.lease_expires_at.is_not(None),
                TrialModel.lease_expires_at < now,
            )
            .values(state=int(TrialState.STALE), dedup_key=None)
        )
        return int(result.rowcount or 0)
