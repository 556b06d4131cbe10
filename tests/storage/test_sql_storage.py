"""The storage contract, run on an SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest

from archsampler.errors import AlreadyExistsError
from archsampler.errors import FailedPreconditionError
from archsampler.errors import NotFoundError
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.trial import Outcome
from archsampler.trial import TrialState

DONE = TrialState.COMPLETED


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
    storage.finish_trial(trials[0].id, Outcome(DONE, 2.5))
    rec = storage.get_study("s")
    assert (rec.trial_count, rec.completed_count, rec.pending_count) == (3, 1, 2)


def test_finish_is_idempotent_and_refuses_a_different_outcome(storage) -> None:
    storage.create_study("s", {})
    (t,) = storage.add_trials("s", [new(0)])
    first = storage.finish_trial(t.id, Outcome(DONE, 1.0, "uri", {"a": "b"}))
    assert storage.finish_trial(t.id, Outcome(DONE, 1.0, "uri", {"a": "b"})) == first
    with pytest.raises(AlreadyExistsError, match="already reported as COMPLETED"):
        storage.finish_trial(t.id, Outcome(DONE, 2.0, "uri", {"a": "b"}))
    with pytest.raises(AlreadyExistsError):
        storage.finish_trial(t.id, Outcome(TrialState.FAILED))
    assert storage.get_trial(t.id) == first


def finished_rows(storage, seq: int):
    with storage.batch() as b:
        return b.finished_rows("s", seq)


def test_finished_rows_catch_up_in_commit_order(storage) -> None:
    storage.create_study("s", {})
    trials = storage.add_trials("s", [new(i) for i in range(4)])
    _, seq = finished_rows(storage, 0)
    for t in (trials[2], trials[0]):
        storage.finish_trial(t.id, Outcome(DONE, float(t.id)))
    got, seq2 = finished_rows(storage, seq)
    assert [r.id for r in got] == [trials[2].id, trials[0].id] and seq2 > seq
    assert finished_rows(storage, seq2)[0] == []


def test_leases_expire_to_stale_and_late_reports_count(storage) -> None:
    storage.create_study("s", {})
    a, b = storage.add_trials("s", [new(0, lease_seconds=0.01), new(1, lease_seconds=600)])
    assert storage.expire_leases(now=a.lease_expires_at + 1) == 1
    assert storage.get_trial(a.id).state == TrialState.STALE
    with pytest.raises(FailedPreconditionError, match="STALE"):
        storage.heartbeat(a.id, 60)
    (again,) = storage.add_trials("s", [new(0)])  # a stale arch may be proposed again
    late = storage.finish_trial(a.id, Outcome(DONE, 3.0))
    assert late.state == DONE and again.state == TrialState.PENDING
    assert storage.heartbeat(b.id, 600).lease_expires_at >= b.lease_expires_at


def test_best_unknown_and_delete(storage) -> None:
    storage.create_study("s", {})
    with pytest.raises(NotFoundError, match="no completed trial"):
        storage.best_trial("s", True)
    trials = storage.add_trials("s", [new(i) for i in range(3)])
    for t, v in zip(trials, (5.0, 9.0, 1.0), strict=True):
        storage.finish_trial(t.id, Outcome(DONE, v))
    assert storage.best_trial("s", True).value == 9.0
    assert storage.best_trial("s", False).value == 1.0
    with pytest.raises(NotFoundError):
        storage.get_trial(10**9)
    storage.delete_study("s")
    with pytest.raises(NotFoundError):
        storage.list_trials("s")
    with pytest.raises(NotFoundError):
        storage.get_trial(trials[0].id)


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
