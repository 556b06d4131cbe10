"""What only an Engine has: its lifecycle, pickling, threads, replicas and lease sweeping."""

from __future__ import annotations

import copy
import pickle
import threading
import time
from pathlib import Path

import grpc
import pydantic
import pytest

import archsampler
from archsampler.testing.assertions import expect_error
from archsampler.testing.assertions import service_garbage
from archsampler.testing.spaces import categorical_space
from archsampler_client.models import TrialState

SPACE = categorical_space(2, 4)  # 16 architectures


def test_engine_is_exported_and_closes(tmp_path: Path) -> None:
    with archsampler.Engine(tmp_path / "a.db") as engine:
        study = engine.create_study("s", SPACE, "random")
        (trial,) = study.propose()
    assert (tmp_path / "a.db").is_file()
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, study.best, match="closed")
    engine.close()  # idempotent
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        archsampler.Nope  # noqa: B018


def test_a_bad_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="lease_seconds"):
        archsampler.Engine(tmp_path / "a.db", lease_seconds=-1)


def test_pickled_engine_is_the_open_one_here_and_a_replica_elsewhere(tmp_path: Path) -> None:
    with archsampler.Engine(tmp_path / "a.db") as engine:
        study = engine.create_study("s", SPACE, "random")
        pending = study.propose(2)
        data = pickle.dumps(engine)
        assert pickle.loads(data) is engine and copy.deepcopy(engine) is engine
        # another process (here: a second Engine with other arguments) is a replica
        other = archsampler.Engine(tmp_path / "a.db", timeout=10.0)
        try:
            theirs = other.study("s").propose(2)
            assert not {t.arch for t in theirs} & {t.arch for t in pending}
            other.study("s").report(pending[0].id, 0.5)  # a trial of the other replica
        finally:
            other.close()
        assert study.best().id == pending[0].id
    reopened = pickle.loads(data)  # the original is closed: a new Engine, opened on use
    try:
        assert reopened is not engine and reopened._service is None
        assert reopened.study("s").best().id == pending[0].id
    finally:
        reopened.close()


def test_threads_get_distinct_proposals(tmp_path: Path) -> None:
    with archsampler.Engine(tmp_path / "a.db") as engine:
        study = engine.create_study("s", SPACE, "random")
        got: list[str] = []

        def work() -> None:
            for _ in range(3):
                (trial,) = study.propose()
                got.append(trial.arch)
                study.report(trial.id, 1.0)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 12 and len(set(got)) == 12
        assert study.info().completed_count == 12


def test_expired_leases_are_swept_as_on_a_server(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with archsampler.Engine(db, lease_seconds=0.3, lease_sweep_seconds=0.1) as engine:
        study = engine.create_study("s", SPACE, "random")
        (trial,) = study.propose()
        deadline = time.monotonic() + 20
        while study.info().pending_count and time.monotonic() < deadline:
            time.sleep(0.1)
        (stale,) = list(study.trials())
        assert stale.id == trial.id and stale.state is TrialState.STALE


def test_the_engine_serves_every_rpc_of_the_servicer() -> None:
    from archsampler.engine import _CALLS
    from archsampler_client.proto import archsampler_pb2 as pb

    rpcs = set(pb.DESCRIPTOR.services_by_name["ArchSampler"].methods_by_name)
    # Session streams the unary calls (and ReportAndPropose, served on its own here)
    assert set(_CALLS) == rpcs - {"Session"} | {"ReportAndPropose"}


def test_release_and_tell_many_on_an_engine(tmp_path: Path) -> None:
    with archsampler.Engine(tmp_path / "a.db") as engine:
        study = engine.create_study("s", SPACE, "random")
        (trial,) = study.propose()
        assert study.release(trial.id).state is TrialState.STALE
        summary = study.tell_many([{"arch": {"p0": "c0", "p1": "c1"}, "value": 0.5}])
        assert summary.created == 1
        expect_error(grpc.StatusCode.UNIMPLEMENTED, engine._invoke, "Nope", None, None)


def test_a_relative_path_is_pinned_when_pickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with archsampler.Engine("rel.db") as engine:
        engine.create_study("s", SPACE, "random")
        data = pickle.dumps(engine)
    assert repr(engine) == f"Engine('sqlite:///{tmp_path / 'rel.db'}')"
    monkeypatch.chdir("/")
    copy_ = pickle.loads(data)  # the original is closed: opens the same file from anywhere
    try:
        assert [s.name for s in copy_.list_studies()] == ["s"]
    finally:
        copy_.close()


def test_refusals_on_an_engine_leave_no_reference_cycles(tmp_path: Path) -> None:
    """An error answered through the writer or a lane is raised without a traceback that
    holds its future (see tests/server/test_garbage.py for the server)."""
    space = {
        "params": [{"name": "x", "type": "int", "low": 0, "high": 99}],
        "constraints": [{"coefficients": {"x": 1.0}, "op": "<=", "bound": 0.5}],
    }
    with archsampler.Engine(tmp_path / "e.db", model_retrain_every=0) as engine:
        tight = engine.create_study("tight", space=space, strategy="random")
        tight.propose(count=1)

        def calls() -> None:
            for _ in range(10):
                expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, tight.propose, count=1)
                expect_error(grpc.StatusCode.NOT_FOUND, tight.report, 10**6, value=1.0)

        assert service_garbage(calls) == {}
