"""The group-commit writer and the proposal lanes on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from archsampler.errors import NotFoundError
from archsampler.futures import waiter
from archsampler.runtime import StudyRuntime
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.study import StudyService
from archsampler.trial import Outcome
from archsampler.trial import TrialState
from archsampler.writer import CHUNK
from archsampler.writer import ReportOp

SPACE = {"user": {"params": [{"name": "x", "type": "int", "low": 0, "high": 99}]}}


@pytest.fixture()
def service(tmp_path: Path):
    storage = SQLStorage(str(tmp_path / "s.db"))
    svc = StudyService(storage, default_strategy="random")
    svc.create_study("s", {"space": SPACE})
    yield svc
    svc.close()
    storage.close()


def test_loop_futures_resolve_after_commit_and_a_cancelled_one_loses_nothing(service) -> None:
    async def main() -> tuple[list, list]:
        loop = asyncio.get_running_loop()
        futures = [service.propose("s", 2, loop=loop) for _ in range(20)]
        futures[3].cancel()  # e.g. its deadline passed while it was queued
        proposed = await asyncio.gather(*futures[:3], *futures[4:])
        reports = [
            service.report("s", t.id, Outcome(TrialState.COMPLETED, float(t.id)), loop)
            for batch in proposed
            for t in batch
        ]
        return proposed, await asyncio.gather(*reports)

    proposed, reported = asyncio.run(main())
    ids = [t.id for batch in proposed for t in batch]
    assert len(ids) == 38 and len(set(ids)) == 38
    assert all(t.state == TrialState.COMPLETED and t.value == float(t.id) for t in reported)
    stored = {t.id: t for t in service.list_trials("s", limit=1000)}
    assert all(stored[i].state == TrialState.COMPLETED for i in ids)
    # The cancelled call's trials were committed too and wait, PENDING, for a retry or lease.
    assert len(stored) == 40
    assert sum(t.state == TrialState.PENDING for t in stored.values()) == 2


def test_thread_futures_and_per_study_errors_in_one_batch(service) -> None:
    good = service.propose("s", 3)
    missing = service.propose("nope", 1)
    assert len({t.id for t in good.result(timeout=30)}) == 3
    with pytest.raises(NotFoundError, match="study 'nope' not found"):
        missing.result(timeout=30)
    trial = good.result()[0]
    done = service.report("s", trial.id, Outcome(TrialState.COMPLETED, 1.5)).result(timeout=30)
    assert done.value == 1.5 and service.storage.get_trial("s", trial.id) == done


def test_answers_to_a_closed_loop_do_not_stop_the_writer(service) -> None:
    loop = asyncio.new_event_loop()
    orphan = service.propose("s", 1, loop=loop)
    loop.close()  # its caller is gone before the answer arrives
    assert len(service.propose("s", 1).result(timeout=30)) == 1
    assert not orphan.done()


def test_two_replicas_drawing_one_random_stream_never_collide(tmp_path: Path) -> None:
    """Two servers on one database share the study seed and do not see each other's pending
    trials until an insert conflicts; filling 98 of 100 architectures, they do conflict: the
    lane catches up and draws again; every proposal is distinct and none is refused."""
    services = [
        StudyService(SQLStorage(str(tmp_path / "r.db")), default_strategy="random")
        for _ in range(2)
    ]
    try:
        services[0].create_study("s", {"space": SPACE, "seed": 7})
        services[1].create_study("s", {"space": SPACE, "seed": 7})
        first = services[0].propose("s", 1).result(timeout=30)  # both runtimes loaded
        second = services[1].propose("s", 1).result(timeout=30)
        ids = {t.arch_hash for t in first + second}
        for _ in range(6):  # each call first draws the archs the other just took
            for svc in services:
                got = svc.propose("s", 8).result(timeout=30)
                ids |= {t.arch_hash for t in got}
        assert len(ids) == 2 + 6 * 2 * 8  # all distinct, none refused
        assert sum(svc.committer.lanes.conflicts for svc in services) > 0
    finally:
        for svc in services:
            svc.close()
            svc.storage.close()


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite file (WAL included)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_a_restarted_server_proposes_what_a_running_one_would(tmp_path: Path, strategy) -> None:
    """The draws of a round depend on (seed, trials so far, attempt): a runtime rebuilt from
    the same log proposes the same trials, while the running one never replays its draws."""
    running = StudyService(SQLStorage(str(tmp_path / "a.db")), default_strategy=strategy)
    restarted = None
    try:
        running.create_study("s", {"space": SPACE, "seed": 3})
        rounds = []
        for _ in range(3):
            got = running.propose("s", 4).result(timeout=30)
            rounds.append([t.arch for t in got])
            for t in got[:3]:
                done = Outcome(TrialState.COMPLETED, float(int(t.arch_hash[:4], 16)))
                running.report("s", t.id, done).result(timeout=30)
        _copy_db(tmp_path / "a.db", tmp_path / "b.db")
        restarted = StudyService(SQLStorage(str(tmp_path / "b.db")), default_strategy=strategy)
        after_restart = [t.arch for t in restarted.propose("s", 4).result(timeout=30)]
        without_restart = [t.arch for t in running.propose("s", 4).result(timeout=30)]
        assert after_restart == without_restart
        assert all(set(without_restart).isdisjoint(r) for r in rounds)
    finally:
        for svc in (running, restarted):
            if svc is not None:
                svc.close()
                svc.storage.close()


def test_proposals_to_unknown_studies_keep_no_lane(service) -> None:
    for i in range(50):
        with pytest.raises(NotFoundError):
            service.propose(f"nope{i}", 1).result(timeout=30)
    assert len(service.propose("s", 1).result(timeout=30)) == 1
    assert service.committer.lanes.studies == 1  # only the study that exists


def test_each_round_draws_from_seed_trial_count_and_attempt(service) -> None:
    """A rebuilt runtime draws what the first one drew at the same trial count; a second
    round at the same count (the first inserted nothing) and a later count draw anew."""

    def draws(rt: StudyRuntime, next_number: int) -> list[int]:
        rt.reseed(next_number)
        return rt.strategy.rng.integers(0, 2**62, size=4).tolist()

    with service.storage.read_batch() as rb:
        first, rebuilt = StudyRuntime.load(rb, "s"), StudyRuntime.load(rb, "s")
    at_8 = draws(first, 8)
    assert draws(first, 8) != at_8  # attempt 1 at the same count: no replay
    assert draws(first, 9) not in (at_8, draws(rebuilt, 0))
    assert draws(rebuilt, 8) == at_8  # the same log: the same draws


def test_identical_retries_in_one_round_and_later_get_the_same_trials(service) -> None:
    futures = [service.propose("s", 3, request_id="k1") for _ in range(4)]
    answers = [f.result(timeout=30) for f in futures]
    assert len({t.id for t in answers[0]}) == 3
    assert all(a == answers[0] for a in answers)
    assert service.propose("s", 3, request_id="k1").result(timeout=30) == answers[0]
    assert len(service.list_trials("s", limit=1000)) == 3  # nothing proposed twice


LOAD = {
    "user": {"params": [{"name": f"p{i}", "type": "int", "low": 0, "high": 7} for i in range(8)]}
}


def _new_trials(service: StudyService, study: str, n: int, request_id: str) -> list[NewTrial]:
    """`n` distinct architectures of `study` as the lanes would hand them to the writer."""
    space = service.space(study)
    rng = np.random.default_rng(0)
    archs = {space.canonical_hash(a): a for a in (space.sample(rng) for _ in range(2 * n))}
    return [
        NewTrial(
            arch=space.to_string(a),
            arch_hash=h,
            params=space.to_params(a),
            request_id=request_id,
            lease_seconds=3600.0,
        )
        for h, a in list(archs.items())[:n]
    ]


def test_a_report_queued_behind_a_large_insert_commits_before_it(service, tmp_path) -> None:
    """A Propose(1000)'s insert commits CHUNK trials per transaction and a report queued
    behind it commits in between (on the old writer both shared one 1000-row transaction);
    the insert's caller still gets all 1000 trials in one answer, and `flush` waits for it."""
    service.create_study("big", {"space": LOAD})
    (trial,) = service.propose("s", 1).result(timeout=30)
    writer = service.committer.writer
    seen: dict[str, int] = {}

    def committed_big_trials(_future: Future) -> None:  # runs on the writer thread
        with sqlite3.connect(tmp_path / "s.db") as db:
            (seen["big"],) = db.execute(
                "SELECT COUNT(*) FROM trials t JOIN studies s ON s.id = t.study_id "
                "WHERE s.name = 'big'"
            ).fetchone()

    large = writer.insert("big", _new_trials(service, "big", 1000, "r-big"))
    report = waiter(None)
    report.add_done_callback(committed_big_trials)
    writer.put(ReportOp("s", trial.id, Outcome(TrialState.COMPLETED, 2.0), report))
    writer.flush()
    assert large.done() and report.result().value == 2.0
    made, next_number = large.result()
    assert len(made) == 1000 and all(t is not None for t in made) and next_number == 1000
    assert seen["big"] <= 1000 - CHUNK  # the report committed with chunks still to come
    assert len({t.number for t in made}) == 1000


def test_a_retry_of_a_propose_cut_short_gets_its_trials_and_the_rest(service) -> None:
    """A large insert that failed after some chunks leaves them PENDING under its request
    id: the retry with that id answers those plus new ones, `count` in all, and again."""
    with service.storage.batch() as batch:
        earlier = batch.insert("s", _new_trials(service, "s", 3, "cut"))
    got = service.propose("s", 5, request_id="cut").result(timeout=30)
    assert [t.id for t in got[:3]] == [t.id for t in earlier]
    assert len({t.arch_hash for t in got}) == 5
    assert service.propose("s", 5, request_id="cut").result(timeout=30) == got
    assert len(service.list_trials("s", limit=1000)) == 5


def test_a_sync_on_an_older_snapshot_never_moves_a_runtime_back(service) -> None:
    """The dashboard syncs one runtime from several request threads, each in its own read
    snapshot: a sync on a snapshot older than the runtime's reads nothing and keeps its
    place, so the next sync does not feed the strategy the same trials twice."""
    trials = service.propose("s", 4).result(timeout=30)
    storage = service.storage
    with storage.read_batch() as rb:
        runtime = StudyRuntime.load(rb, "s")
    with storage.read_batch() as old:
        old.study("s")  # its snapshot starts here
        storage.finish_trial("s", trials[0].id, Outcome(TrialState.COMPLETED, 1.0))
        with storage.read_batch() as new:
            runtime.sync(new)
        ahead = runtime.seq
        runtime.sync(old)
        assert runtime.seq == ahead
    fed = []
    observe = runtime.strategy.observe
    runtime.strategy.observe = lambda obs: (fed.extend(obs), observe(obs))  # type: ignore[method-assign]
    storage.finish_trial("s", trials[1].id, Outcome(TrialState.COMPLETED, 2.0))
    with storage.read_batch() as rb:
        runtime.sync(rb)
    assert len(fed) == 1  # trials[1] only, not trials[0] again
