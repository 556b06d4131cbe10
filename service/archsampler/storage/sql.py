"""SQLAlchemy storage: an SQLite file (WAL) by default, PostgreSQL with the same code."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import Callable
from typing import Sequence

from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from archsampler.errors import AlreadyExistsError
from archsampler.errors import FailedPreconditionError
from archsampler.errors import NotFoundError
from archsampler.errors import StorageError
from archsampler.storage.base import DEFAULT_NAMESPACE
from archsampler.storage.base import NewTrial
from archsampler.storage.base import Storage
from archsampler.storage.base import StudyRecord
from archsampler.storage.batch import SQLBatch
from archsampler.storage.batch import to_trial as _to_trial
from archsampler.storage.batch import trial_not_found
from archsampler.storage.config_diff import first_difference
from archsampler.storage.migrations import upgrade
from archsampler.storage.models import Base
from archsampler.storage.models import IntermediateValueModel
from archsampler.storage.models import StudyModel
from archsampler.storage.models import TrialModel
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState


def database_url(db: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (an SQLite file)."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
"""SQLite `PRAGMA synchronous` per `Settings.sqlite_synchronous`."""


def _sqlite_engine(url: str, immediate: bool, synchronous: str = "full") -> Engine:
    # Every transaction here ends in an explicit commit or rollback, so the pool's extra
    # rollback on check-in is skipped (it was a measurable part of each group commit).
    engine = create_engine(
        url,
        connect_args={"timeout": 60, "check_same_thread": False},
        pool_reset_on_return=None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={SYNCHRONOUS[synchronous]}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: no "database is locked" upgrade failure mid-way.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _rollback(conn: Any) -> None:
    """Roll back, ignoring a connection that is already broken (it is discarded anyway)."""
    with contextlib.suppress(Exception):
        conn.rollback()


@contextlib.contextmanager
def _dbapi_batch(engine: Engine, *, write: bool) -> Iterator[SQLBatch]:
    """An `SQLBatch` on a pooled DBAPI connection of `engine`: committed when the block
    exits (`write`), else rolled back. A driver error rolls back, discards the connection
    and becomes `StorageError`."""
    dialect = engine.dialect
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        if dialect.name == "sqlite":
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        batch = SQLBatch(cursor, dialect.name, read_only=not write)
        yield batch
        if write:
            batch.write_studies()
            conn.commit()
    except dialect.dbapi.Error as e:
        _rollback(conn)
        conn.invalidate()
        raise StorageError(f"storage error: {type(e).__name__}: {e}") from e
    except BaseException:
        _rollback(conn)
        raise
    finally:
        if not write:
            _rollback(conn)  # nothing was written: end the snapshot
        conn.close()  # back to the pool


class SQLStorage(Storage):
    """`Storage` over SQLAlchemy 2. See `Storage` for the contract."""

    def __init__(self, db: str, sqlite_synchronous: str = "full") -> None:
        """`sqlite_synchronous` (SQLite only): "full" syncs every commit to the disk (nothing
        acknowledged is lost on power failure); "normal" syncs at WAL checkpoints only
        (nothing acknowledged is lost when the process dies; a power failure may lose the
        last commits)."""
        if sqlite_synchronous not in SYNCHRONOUS:
            choices = sorted(SYNCHRONOUS)
            raise ValueError(
                f"sqlite_synchronous must be one of {choices}, got {sqlite_synchronous!r}"
            )
        url = database_url(db)
        self.url = url
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url, immediate=True, synchronous=sqlite_synchronous)
            self.read_engine = _sqlite_engine(url, immediate=False, synchronous=sqlite_synchronous)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            self.read_engine = self.engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._init_schema()

    def _init_schema(self) -> None:
        try:
            Base.metadata.create_all(self.engine)
            upgrade(self.engine)
        except IntegrityError:
            pass  # another replica initialised the schema at the same time

    def close(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()

    @contextlib.contextmanager
    def _session(self, write: bool = True) -> Iterator[Session]:
        """A transaction; SQLite readers skip the write lock (WAL lets them run alongside)."""
        session = (self._sessions if write else self._read_sessions)()
        try:
            yield session
            session.commit()
        except IntegrityError:
            session.rollback()
            raise  # callers turn a uniqueness race into a domain error
        except SQLAlchemyError as e:
            session.rollback()
            raise StorageError(f"storage error: {type(e).__name__}: {e}") from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def batch(self) -> contextlib.AbstractContextManager[SQLBatch]:
        """One transaction for many writes (group commit); commits when the block exits.

        It runs on a pooled DBAPI connection (the writer's hot path skips the ORM); a
        driver error rolls back, discards the connection and becomes `StorageError`.
        """
        return _dbapi_batch(self.engine, write=True)

    def read_batch(self) -> contextlib.AbstractContextManager[SQLBatch]:
        """The `SQLBatch` reads on a read-only transaction (no locks taken; always rolled
        back): what the proposal lanes sync their strategies through. SQLite: a deferred
        transaction, a snapshot from its first read that never waits for the writer."""
        return _dbapi_batch(self.read_engine, write=False)

    # -- studies ------------------------------------------------------------------------
    @staticmethod
    def _study_row(s: Session, name: str, lock: bool = False) -> StudyModel:
        query = select(StudyModel).where(StudyModel.name == name)
        if lock:
            query = query.with_for_update()
        row = s.scalar(query)
        if row is None:
            raise NotFoundError(f"study {name!r} not found")
        return row

    @staticmethod
    def _records(s: Session, rows: Sequence[StudyModel]) -> list[StudyRecord]:
        """Records of `rows` with their trial counts (one grouped query for all of them)."""
        counts: dict[int, dict[int, int]] = {row.id: {} for row in rows}
        if rows:
            query = select(TrialModel.study_id, TrialModel.state, func.count())
            if len(rows) <= 1000:  # else count every study's trials (no huge IN list)
                query = query.where(TrialModel.study_id.in_(list(counts)))
            for study_id, state, count in s.execute(
                query.group_by(TrialModel.study_id, TrialModel.state)
            ):
                if study_id in counts:
                    counts[study_id][state] = count
        return [
            StudyRecord(
                name=row.name,
                config=json.loads(row.config_json),
                created_at=row.created_at,
                trial_count=sum(counts[row.id].values()),
                completed_count=counts[row.id].get(int(TrialState.COMPLETED), 0),
                pending_count=counts[row.id].get(int(TrialState.PENDING), 0),
                namespace=row.namespace,
                id=row.id,
            )
            for row in rows
        ]

    @classmethod
    def _record(cls, s: Session, row: StudyModel) -> StudyRecord:
        return cls._records(s, [row])[0]

    def create_study(
        self,
        name: str,
        config: dict[str, Any],
        namespace: str = DEFAULT_NAMESPACE,
        *,
        check_existing: Callable[[str], None] | None = None,
    ) -> tuple[StudyRecord, bool]:
        encoded = json.dumps(config, sort_keys=True)
        for _ in range(2):
            try:
                with self._session() as s:
                    row = s.scalar(select(StudyModel).where(StudyModel.name == name))
                    if row is not None:
                        if check_existing is not None:
                            check_existing(row.namespace)
                        diff = first_difference(json.loads(row.config_json), config)
                        if diff is not None:
                            raise AlreadyExistsError(
                                f"study {name!r} already exists with a different config: {diff}"
                            )
                        return self._record(s, row), False
                    row = StudyModel(
                        name=name, namespace=namespace, config_json=encoded, created_at=time.time()
                    )
                    s.add(row)
                    s.flush()
                    return self._record(s, row), True
            except IntegrityError:
                continue  # created concurrently: load it on the second pass
        raise StorageError(f"could not create or load study {name!r}")

    def get_study(self, name: str) -> StudyRecord:
        with self._session(write=False) as s:
            return self._record(s, self._study_row(s, name))

    def study_namespace(self, name: str) -> str:
        with self._session(write=False) as s:
            found = s.scalar(select(StudyModel.namespace).where(StudyModel.name == name))
            if found is None:
                raise NotFoundError(f"study {name!r} not found")
            return found

    def list_studies(
        self, *, namespace: str | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[StudyRecord]:
        query = select(StudyModel).where(StudyModel.id > after_id).order_by(StudyModel.id)
        if namespace is not None:
            query = query.where(StudyModel.namespace == namespace)
        if limit is not None:
            query = query.limit(limit)
        with self._session(write=False) as s:
            return self._records(s, s.scalars(query).all())

    def delete_study(
        self, name: str, *, check_existing: Callable[[str], None] | None = None
    ) -> None:
        with self._session() as s:
            row = self._study_row(s, name, lock=True)
            if check_existing is not None:
                check_existing(row.namespace)
            values = IntermediateValueModel.__table__
            s.execute(values.delete().where(values.c.study_id == row.id))
            s.execute(TrialModel.__table__.delete().where(TrialModel.study_id == row.id))
            s.delete(row)

    # -- trials -------------------------------------------------------------------------
    def add_trials(self, study: str, trials: Sequence[NewTrial]) -> list[Trial]:
        with self.batch() as b:
            inserted = b.insert(study, trials)
            if any(t is None for t in inserted):  # raising rolls the whole batch back
                raise AlreadyExistsError(
                    f"an architecture in this batch is already pending or evaluated in study "
                    f"{study!r}"
                )
            return [t for t in inserted if t is not None]

    def _trial_row(
        self, s: Session, study: str, trial_id: int, lock: bool = False
    ) -> tuple[TrialModel, str]:
        """The trial `trial_id` of `study`; another study's trial is not found either."""
        query = (
            select(TrialModel, StudyModel.name)
            .join(StudyModel, StudyModel.id == TrialModel.study_id)
            .where(TrialModel.id == trial_id, StudyModel.name == study)
        )
        if lock:
            query = query.with_for_update()
        found = s.execute(query).first()
        if found is None:
            raise trial_not_found(study, trial_id)
        return found[0], found[1]

    def get_trial(self, study: str, trial_id: int) -> Trial:
        with self._session(write=False) as s:
            row, name = self._trial_row(s, study, trial_id)
            return _to_trial(row, name)

    def finish_trial(self, study: str, trial_id: int, outcome: Outcome) -> Trial:
        with self.batch() as b:
            (result,) = b.finish([(study, trial_id, outcome)])
        if isinstance(result, Exception):
            raise result
        return result

    # -- intermediate values (early stopping) -------------------------------------------
    def add_intermediate(
        self, study: str, trial_id: int, step: int, value: float, limit: int = 10_000
    ) -> Trial:
        with self._session() as s:
            row, name = self._trial_row(s, study, trial_id, lock=True)
            if row.state != TrialState.PENDING:
                raise FailedPreconditionError(
                    f"trial {trial_id} is {TrialState(row.state).name}; intermediate values "
                    "are reported while a trial is PENDING"
                )
            table = IntermediateValueModel
            found = s.get(table, (trial_id, step))
            if found is not None:
                if found.value != value:
                    raise AlreadyExistsError(
                        f"trial {trial_id} already has value {found.value} at step {step}; "
                        "a different value is refused"
                    )
                return _to_trial(row, name)
            count = s.scalar(select(func.count()).where(table.trial_id == trial_id)) or 0
            if count >= limit:
                raise FailedPreconditionError(
                    f"trial {trial_id} already has {limit} intermediate values (the limit)"
                )
            s.add(table(trial_id=trial_id, step=step, study_id=row.study_id, value=value))
            s.flush()
            return _to_trial(row, name)

    def intermediate_values(self, study: str, trial_id: int) -> list[tuple[int, float]]:
        with self._session(write=False) as s:
            self._trial_row(s, study, trial_id)
            table = IntermediateValueModel
            rows = s.execute(
                select(table.step, table.value)
                .where(table.trial_id == trial_id)
                .order_by(table.step)
            )
            return [(int(step), float(value)) for step, value in rows]

    def values_at_step(
        self, study: str, step: int, exclude_trial: int, states: Sequence[TrialState] = ()
    ) -> list[float]:
        with self._session(write=False) as s:
            study_id = self._study_row(s, study).id
            table = IntermediateValueModel
            query = (
                select(table.value)
                .join(TrialModel, TrialModel.id == table.trial_id)
                .where(
                    table.study_id == study_id,
                    table.step == step,
                    table.trial_id != exclude_trial,
                )
            )
            if states:
                query = query.where(TrialModel.state.in_([int(x) for x in states]))
            return [float(v) for v in s.scalars(query)]

    def heartbeat(self, study: str, trial_id: int, lease_seconds: float) -> Trial:
        with self._session() as s:
            row, name = self._trial_row(s, study, trial_id, lock=True)
            if row.state != TrialState.PENDING:
                raise FailedPreconditionError(
                    f"trial {trial_id} is {TrialState(row.state).name}; only PENDING trials "
                    "have a lease"
                )
            row.lease_expires_at = time.time() + lease_seconds
            s.flush()
            return _to_trial(row, name)

    def release(self, study: str, trial_id: int) -> Trial:
        with self._session() as s:
            row, name = self._trial_row(s, study, trial_id, lock=True)
            if row.state != TrialState.PENDING:
                raise FailedPreconditionError(
                    f"trial {trial_id} is {TrialState(row.state).name}; only PENDING trials "
                    "can be released"
                )
            row.state = int(TrialState.STALE)
            row.dedup_key = None
            row.lease_expires_at = time.time()
            s.flush()
            return _to_trial(row, name)

    def expire_leases(self, now: float | None = None) -> int:
        with self.batch() as b:
            return b.expire(time.time() if now is None else now)

    def list_trials(
        self,
        study: str,
        *,
        states: Sequence[TrialState] = (),
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[Trial]:
        with self._session(write=False) as s:
            row = self._study_row(s, study)
            query = (
                select(TrialModel)
                .where(TrialModel.study_id == row.id, TrialModel.id > after_id)
                .order_by(TrialModel.id)
            )
            if states:
                query = query.where(TrialModel.state.in_([int(x) for x in states]))
            if limit is not None:
                query = query.limit(limit)
            return [_to_trial(r, study) for r in s.scalars(query)]

    def best_trial(self, study: str, maximize: bool) -> Trial:
        with self._session(write=False) as s:
            row = self._study_row(s, study)
            order = TrialModel.value.desc() if maximize else TrialModel.value.asc()
            best = s.scalar(
                select(TrialModel)
                .where(
                    TrialModel.study_id == row.id,
                    TrialModel.state == int(TrialState.COMPLETED),
                )
                .order_by(order, TrialModel.id)
                .limit(1)
            )
            if best is None:
                raise NotFoundError(f"study {study!r} has no completed trial yet")
            return _to_trial(best, study)
