"""The storage contract, run on an SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from archsampler.errors import AlreadyExistsError
from archsampler.errors import FailedPreconditionError
from archsampler.errors import NotFoundError
from archsampler.errors import StorageError
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.storage.models import LEASE_INDEX
from archsampler.trial import Outcome
from archsampler.trial import TrialState

DONE = TrialState.COMPLETED
FAILED = TrialState.FAILED


@pytest.fixture()
def storage(db_url: str):
    s = SQLStorage(db_url)
    yield s
    s.close()


def new(i: int, **kw) -> NewTrial:
    return NewTrial(arch=f"a{i}", arch_hash=f"h{i}", params={"i": i}, **kw)


def test_create_or_load_names_the_differing_field(storage) -> None:
    rec, created = storage.create_study("s", {"space": {"builtin": "nb201"}, "seed": 1})
    assert created and rec.trial_count == 0
    again, created = storage.create_study("s", {"space": {"builtin": "nb201"}, "seed": 1})
    assert not created and again.created_at == rec.created_at
    with pytest.raises(AlreadyExistsError, match=r"config.space.builtin: existing 'nb201'"):
        storage.create_study("s", {"space": {"builtin": "nb101"}, "seed": 1})


def test_trials_are_numbered_unique_and_counted(storage) -> None:
    storage.create_study("s", {})
    trials = storage.add_trials("s", [new(i, lease_seconds=60) for i in range(3)])
    assert [t.number for t in trials] == [0, 1, 2]
    with pytest.raises(AlreadyExistsError):
        storage.add_trials("s", [new(3), new(1)])  # all or nothing
    assert len(storage.list_trials("s")) == 3
    storage.finish_trial("s", trials[0].id, Outcome(DONE, 2.5))
    rec = storage.get_study("s")
    assert (rec.trial_count, rec.completed_count, rec.pending_count) == (3, 1, 2)


def test_finish_is_idempotent_and_refuses_a_different_outcome(storage) -> None:
    storage.create_study("s", {})
    (t,) = storage.add_trials("s", [new(0)])
    first = storage.finish_trial("s", t.id, Outcome(DONE, 1.0, "uri", {"a": "b"}))
    assert storage.finish_trial("s", t.id, Outcome(DONE, 1.0, "uri", {"a": "b"})) == first
    with pytest.raises(AlreadyExistsError, match="already reported as COMPLETED"):
        storage.finish_trial("s", t.id, Outcome(DONE, 2.0, "uri", {"a": "b"}))
    with pytest.raises(AlreadyExistsError):
        storage.finish_trial("s", t.id, Outcome(TrialState.FAILED))
    assert storage.get_trial("s", t.id) == first


def finished_rows(storage, seq: int):
    with storage.batch() as b:
        return b.finished_rows("s", seq)


def test_finished_rows_catch_up_in_commit_order(storage) -> None:
    storage.create_study("s", {})
    trials = storage.add_trials("s", [new(i) for i in range(4)])
    _, seq = finished_rows(storage, 0)
    for t in (trials[2], trials[0]):
        storage.finish_trial("s", t.id, Outcome(DONE, float(t.id)))
    got, seq2 = finished_rows(storage, seq)
    assert [r.id for r in got] == [trials[2].id, trials[0].id] and seq2 > seq
    assert finished_rows(storage, seq2)[0] == []


def test_finished_pages_split_a_commit_and_never_repeat_a_trial(storage) -> None:
    """The dashboard's catch-up: pages of 3 over commits of several reports each (one
    revision split across pages) read every finished trial once, in finish order; the
    state counts and the newest trials are read without the whole log."""
    storage.create_study("s", {})
    trials = storage.add_trials("s", [new(i) for i in range(12)])
    seen: list[int] = []
    cursor = (0, 0)

    def catch_up() -> None:
        nonlocal cursor
        while True:
            with storage.read_batch() as b:
                page, cursor = b.finished_page("s", cursor, 3)
            seen.extend(t.id for t in page)
            if len(page) < 3:
                return

    for group in (trials[0:5], trials[5:6], trials[6:10]):
        with storage.batch() as b:  # one commit, one revision for the whole group
            b.finish([("s", t.id, Outcome(DONE, float(t.id))) for t in group])
        catch_up()
    catch_up()  # nothing new: nothing read twice
    assert seen == [t.id for t in trials[:10]]
    storage.finish_trial("s", trials[11].id, Outcome(FAILED, None))
    catch_up()
    assert seen[-1] == trials[11].id and len(seen) == len(set(seen)) == 11
    with storage.read_batch() as old:  # a reader whose snapshot is older than the cursor
        assert old.study("s").revision + 1 == cursor[0]
        storage.finish_trial("s", trials[10].id, Outcome(DONE, 1.0))
        catch_up()
        assert seen[-1] == trials[10].id
        assert old.finished_page("s", cursor, 3) == ([], cursor)  # never back
    with storage.read_batch() as b:
        counts = b.state_counts("s")
        newest = b.newest("s", 4)
    assert counts[DONE] == 11 and counts[FAILED] == 1 and counts[TrialState.PENDING] == 0
    assert sum(counts.values()) == 12 and set(counts) == set(TrialState)
    assert len(seen) == len(set(seen)) == 12
    assert [t.id for t in newest] == [t.id for t in trials[::-1][:4]]


def test_leases_expire_to_stale_and_late_reports_count(storage) -> None:
    storage.create_study("s", {})
    a, b = storage.add_trials("s", [new(0, lease_seconds=0.01), new(1, lease_seconds=600)])
    assert storage.expire_leases(now=a.lease_expires_at + 1) == 1
    assert storage.get_trial("s", a.id).state == TrialState.STALE
    with pytest.raises(FailedPreconditionError, match="STALE"):
        storage.heartbeat("s", a.id, 60)
    (again,) = storage.add_trials("s", [new(0)])  # a stale arch may be proposed again
    late = storage.finish_trial("s", a.id, Outcome(DONE, 3.0))
    assert late.state == DONE and again.state == TrialState.PENDING
    assert storage.heartbeat("s", b.id, 600).lease_expires_at >= b.lease_expires_at


def test_best_unknown_and_delete(storage) -> None:
    storage.create_study("s", {})
    with pytest.raises(NotFoundError, match="no completed trial"):
        storage.best_trial("s", True)
    trials = storage.add_trials("s", [new(i) for i in range(3)])
    for t, v in zip(trials, (5.0, 9.0, 1.0), strict=True):
        storage.finish_trial("s", t.id, Outcome(DONE, v))
    assert storage.best_trial("s", True).value == 9.0
    assert storage.best_trial("s", False).value == 1.0
    with pytest.raises(NotFoundError):
        storage.get_trial("s", 10**9)
    storage.delete_study("s")
    with pytest.raises(NotFoundError):
        storage.list_trials("s")
    with pytest.raises(NotFoundError):
        storage.get_trial("s", trials[0].id)


def test_a_trial_of_another_study_is_not_found_like_a_missing_one(storage) -> None:
    storage.create_study("s", {})
    storage.create_study("other", {"seed": 1})
    (mine,) = storage.add_trials("s", [new(0, lease_seconds=60)])
    (theirs,) = storage.add_trials("other", [new(0, lease_seconds=60)])
    calls = {
        "get": lambda i: storage.get_trial("s", i),
        "finish": lambda i: storage.finish_trial("s", i, Outcome(DONE, 1.0)),
        "heartbeat": lambda i: storage.heartbeat("s", i, 600),
    }
    for name, call in calls.items():
        messages = []
        for trial_id in (theirs.id, 10**9):
            with pytest.raises(NotFoundError) as info:
                call(trial_id)
            messages.append(str(info.value).replace(str(trial_id), "ID"))
        assert messages[0] == messages[1] == "trial ID not found in study 's'", name
    assert storage.get_trial("other", theirs.id) == theirs  # untouched
    assert storage.finish_trial("s", mine.id, Outcome(DONE, 2.0)).value == 2.0


def test_concurrent_writers_never_duplicate_a_live_arch(storage) -> None:
    storage.create_study("s", {})
    wins: list[int] = []

    def writer(k: int) -> None:
        for i in range(20):
            try:
                storage.add_trials("s", [new(i)])
                wins.append(i)
            except AlreadyExistsError:
                pass

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == list(range(20))
    assert len(storage.list_trials("s")) == 20


def test_studies_belong_to_a_namespace_and_list_in_pages(storage) -> None:
    for i in range(5):
        storage.create_study(f"s{i}", {"seed": i}, "team-a" if i % 2 else "team-b")
    storage.create_study("d", {})
    assert storage.get_study("s1").namespace == "team-a" and storage.get_study("d").namespace == (
        "default"
    )
    assert storage.study_namespace("s2") == "team-b"
    with pytest.raises(NotFoundError, match="'nope' not found"):
        storage.study_namespace("nope")
    every = storage.list_studies()
    assert [r.name for r in every] == ["s0", "s1", "s2", "s3", "s4", "d"]
    assert [r.id for r in every] == sorted(r.id for r in every)
    assert [r.name for r in storage.list_studies(namespace="team-a")] == ["s1", "s3"]
    assert storage.list_studies(namespace="other") == []
    first = storage.list_studies(namespace="team-b", limit=2)
    assert [r.name for r in first] == ["s0", "s2"]
    rest = storage.list_studies(namespace="team-b", after_id=first[-1].id, limit=2)
    assert [r.name for r in rest] == ["s4"]
    storage.add_trials("s3", [new(i) for i in range(3)])
    (s3,) = storage.list_studies(namespace="team-a", after_id=every[1].id)
    assert (s3.name, s3.trial_count, s3.pending_count) == ("s3", 3, 3)


def test_an_existing_study_is_checked_before_its_config_is_compared(storage) -> None:
    storage.create_study("s", {"seed": 1}, "team-a")
    seen: list[str] = []

    def refuse(namespace: str) -> None:
        seen.append(namespace)
        raise PermissionError(f"not yours: {namespace}")

    for config in ({"seed": 1}, {"seed": 2}):  # an equal and a different config: same answer
        with pytest.raises(PermissionError, match="not yours: team-a"):
            storage.create_study("s", config, "team-b", check_existing=refuse)
    assert seen == ["team-a", "team-a"]
    rec, created = storage.create_study("t", {}, "team-b", check_existing=refuse)
    assert created and rec.namespace == "team-b" and seen == ["team-a", "team-a"]
    again, created = storage.create_study("s", {"seed": 1}, "team-b", check_existing=seen.append)
    assert not created and again.namespace == "team-a"  # loading keeps the owner


V1_DUMP = Path(__file__).parent / "assets" / "schema_v1.sql"


def _version_rows(storage: SQLStorage) -> list[int]:
    with storage.engine.connect() as conn:
        return [v for (v,) in conn.exec_driver_sql("SELECT version FROM schema_version")]


def _check_migrated(storage: SQLStorage) -> None:
    assert sorted(_version_rows(storage)) == [1, 2, 3, 4, 5]
    records = storage.list_studies()
    assert [(r.name, r.namespace) for r in records] == [("old-a", "default"), ("old-b", "default")]
    assert [(r.trial_count, r.completed_count) for r in records] == [(3, 1), (1, 1)]
    assert storage.best_trial("old-b", maximize=False).value == 2.0
    assert storage.list_studies(namespace="default", after_id=records[0].id) == records[1:]
    rec, created = storage.create_study("new", {}, "team-a")
    assert created and rec.namespace == "team-a" and rec.id > records[-1].id
    (added,) = storage.add_trials("old-a", [new(100)])
    assert storage.get_study("old-a").trial_count == 4
    storage.add_intermediate("old-a", added.id, 1, 0.5)  # v3: the intermediate values table
    assert storage.intermediate_values("old-a", added.id) == [(1, 0.5)]


def test_a_v1_sqlite_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:  # the file a v1 server left (see assets/)
        conn.executescript(V1_DUMP.read_text())
    storage = SQLStorage(str(path))
    try:
        _check_migrated(storage)
    finally:
        storage.close()
    reopened = SQLStorage(str(path))  # a second open migrates nothing
    try:
        assert sorted(_version_rows(reopened)) == [1, 2, 3, 4, 5]
        assert [r.name for r in reopened.list_studies(namespace="team-a")] == ["new"]
    finally:
        reopened.close()


def test_a_v1_database_is_migrated_on_every_backend(db_url: str) -> None:
    """Make a current database look like v1 (no namespace column, no intermediate values,
    version 1), then reopen it."""
    storage = SQLStorage(db_url)
    storage.create_study("old-a", {})
    storage.create_study("old-b", {})
    storage.add_trials("old-a", [new(0, state=DONE, value=1.0), new(1, state=FAILED), new(2)])
    storage.add_trials("old-b", [new(9, state=DONE, value=2.0)])
    with storage.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE intermediate_values")
        conn.exec_driver_sql(f"DROP INDEX {LEASE_INDEX}")  # v5
        conn.exec_driver_sql("ALTER TABLE trials DROP COLUMN values_json")  # v4
        conn.exec_driver_sql("DROP INDEX ix_studies_namespace")
        conn.exec_driver_sql("ALTER TABLE studies DROP COLUMN namespace")
        conn.exec_driver_sql("DELETE FROM schema_version")
        conn.exec_driver_sql("INSERT INTO schema_version (version) VALUES (1)")
    storage.close()
    migrated = SQLStorage(db_url)
    try:
        _check_migrated(migrated)
    finally:
        migrated.close()


def test_the_lease_sweep_reads_pending_trials_by_lease_not_every_trial(db_url: str) -> None:
    """The sweep runs every few seconds holding the write lock: on a database that was
    v4, after the migration, it finds expired trials through the v5 index (SQLite's plan
    names it; PostgreSQL lists it), and still expires exactly those."""
    storage = SQLStorage(db_url)
    storage.create_study("s", {})
    with storage.engine.begin() as conn:  # a v4 database
        conn.exec_driver_sql(f"DROP INDEX {LEASE_INDEX}")
        conn.exec_driver_sql("DELETE FROM schema_version")
        conn.exec_driver_sql("INSERT INTO schema_version (version) VALUES (4)")
    storage.close()
    storage = SQLStorage(db_url)
    try:
        assert sorted(_version_rows(storage)) == [4, 5]
        with storage.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                plan = " ".join(
                    str(row[-1])
                    for row in conn.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN UPDATE trials SET state = {int(TrialState.STALE)} "
                        f"WHERE state = {int(TrialState.PENDING)} "
                        "AND lease_expires_at IS NOT NULL AND lease_expires_at < 1.0"
                    )
                )
                assert f"USING INDEX {LEASE_INDEX}" in plan, plan
            else:
                names = {n for (n,) in conn.exec_driver_sql("SELECT indexname FROM pg_indexes")}
                assert LEASE_INDEX in names
        kept, lapsed = storage.add_trials("s", [new(0), new(1)])
        with storage.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE trials SET lease_expires_at = 1 WHERE id = {lapsed.id}")
        assert storage.expire_leases() == 1
        states = {t.id: t.state for t in storage.list_trials("s")}
        assert states == {kept.id: TrialState.PENDING, lapsed.id: TrialState.STALE}
    finally:
        storage.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "future.db")
    SQLStorage(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(StorageError, match="schema v99 is newer than this server"):
        SQLStorage(path)


def test_delete_checks_the_namespace_in_its_transaction(storage) -> None:
    storage.create_study("s", {}, "team-a")
    storage.add_trials("s", [new(0)])

    def refuse(namespace: str) -> None:
        raise PermissionError(f"not yours: {namespace}")

    with pytest.raises(PermissionError, match="not yours: team-a"):
        storage.delete_study("s", check_existing=refuse)
    assert storage.get_study("s").trial_count == 1  # rolled back: nothing deleted
    seen: list[str] = []
    storage.delete_study("s", check_existing=seen.append)
    assert seen == ["team-a"]
    with pytest.raises(NotFoundError):
        storage.get_study("s")


def test_sqlite_synchronous_is_a_stated_choice(tmp_path: Path) -> None:
    """`full` (the default) syncs every commit; `normal` only at WAL checkpoints."""
    for choice, level in (("full", 2), ("normal", 1)):
        storage = SQLStorage(str(tmp_path / f"{choice}.db"), sqlite_synchronous=choice)
        try:
            with storage.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
        finally:
            storage.close()
    with pytest.raises(ValueError, match="sqlite_synchronous must be one of"):
        SQLStorage(str(tmp_path / "x.db"), sqlite_synchronous="off")


def test_the_sql_batch_is_the_workflow_transaction(tmp_path: Path) -> None:
    """`SQLBatch` implements `storage.base.Transaction`, the interface the runtimes, lanes
    and writer are written against (an Engine and a server share them)."""
    from archsampler.storage.base import Transaction

    storage = SQLStorage(str(tmp_path / "t.db"))
    try:
        storage.create_study("s", {})
        for open_batch in (storage.batch, storage.read_batch):
            with open_batch() as batch:
                assert isinstance(batch, Transaction)
                assert batch.pending("s") == [] and batch.queued("s") == []
    finally:
        storage.close()
