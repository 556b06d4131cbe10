"""The group-commit writer on a real SQLite file: answers on thread and event-loop futures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from archsampler.errors import NotFoundError
from archsampler.storage import SQLStorage
from archsampler.study import StudyService
from archsampler.trial import Outcome
from archsampler.trial import TrialState

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
