"""Retryable failures and the queue (issue 14 item 4) against a real server: a retryable
failure is proposed again, first, up to the study's max_retries; a permanent one never;
enqueued architectures come first, in order, once each."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from archsampler import Engine
from archsampler.testing import ServerProcess
from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import Client
from archsampler_client import TrialState

SPACE = {"params": [{"name": "x", "type": "int", "low": 0, "high": 999}]}


def _code(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(ArchSamplerError) as info:
        fn()
    return info.value.code, info.value.details


@pytest.fixture()
def client(tmp_path: Path):
    with ServerThread(tmp_path / "q.db") as srv, Client(srv.target, retries=0) as c:
        yield c


def test_retryable_failure_is_proposed_again_up_to_the_limit(client: Client) -> None:
    study = client.create_study("r", SPACE, "random", seed=1, max_retries=2)
    assert study.info().config["max_retries"] == 2
    (first,) = study.propose(1)
    arch = first.arch
    attempts = [first]
    for _ in range(2):  # two retries allowed
        study.report(attempts[-1].id, failed="node preempted", retryable=True)
        (again,) = study.propose(1)  # the retry comes before anything new
        assert again.arch == arch and again.id != attempts[-1].id
        assert again.metadata["retry_of"] == str(attempts[-1].id)
        attempts.append(again)
    assert [a.metadata.get("retry") for a in attempts[1:]] == ["1 of 2", "2 of 2"]
    study.report(attempts[-1].id, failed="node preempted", retryable=True)  # the third
    fresh = study.propose(20)
    assert arch not in {t.arch for t in fresh}  # the limit is reached: never again
    states = [t.state for t in study.trials() if t.arch == arch]
    assert states == [TrialState.FAILED] * 3
    assert study.report(attempts[-1].id, failed="node preempted", retryable=True).state == (
        TrialState.FAILED
    )  # the same report again: idempotent, nothing queued
    assert [t for t in study.trials() if t.state == TrialState.QUEUED] == []


def test_permanent_failure_is_never_proposed_again(client: Client) -> None:
    small = {"params": [{"name": "x", "type": "int", "low": 0, "high": 3}]}
    study = client.create_study("p", small, "random", max_retries=5)
    trials = study.propose(4)
    study.report(trials[0].id, failed="diverged")  # permanent (retryable not set)
    for t in trials[1:]:
        study.report(t.id, 0.5)
    code, _ = _code(lambda: study.propose(1))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED  # the failed one is not re-proposed


def test_without_max_retries_a_retryable_failure_is_final(client: Client) -> None:
    study = client.create_study("z", SPACE, "random")
    (t,) = study.propose(1)
    study.report(t.id, failed="preempted", retryable=True)
    assert t.arch not in {p.arch for p in study.propose(30)}


def test_enqueued_architectures_come_first_in_order_once_each(client: Client) -> None:
    study = client.create_study("q", SPACE, "lanas", seed=3)
    queued, skipped = study.enqueue([{"x": 7}, {"x": 3}, {"x": 5}, {"x": 7}])
    assert [t.params["x"] for t in queued] == [7, 3, 5] and skipped[0][0] == 3
    assert "already queued, pending or evaluated" in skipped[0][1]
    assert {t.state for t in queued} == {TrialState.QUEUED}
    first = study.propose(2, client_id="w1")
    assert [t.params["x"] for t in first] == [7, 3]
    assert [t.id for t in first] == [queued[0].id, queued[1].id]  # the same trials, PENDING
    assert {(t.state, t.client_id) for t in first} == {(TrialState.PENDING, "w1")}
    second = study.propose(3)
    assert second[0].params["x"] == 5 and {t.params["x"] for t in second[1:]}.isdisjoint({7, 3, 5})
    _, skipped = study.enqueue([{"x": 7}])  # pending now: skipped, not queued twice
    assert skipped and not any(t.state == TrialState.QUEUED for t in study.trials())


def test_enqueue_bad_input(client: Client) -> None:
    study = client.create_study("b", SPACE, "random")
    code, msg = _code(lambda: study.enqueue([{"x": 1}, {"x": 5000}]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg.startswith("architectures[1]:")
    assert not list(study.trials())  # nothing queued
    code, msg = _code(lambda: study.enqueue([]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "1..1000" in msg
    code, _ = _code(lambda: study.enqueue([{"x": i} for i in range(1001)]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = _code(lambda: client.study("nope").enqueue([{"x": 1}]))
    assert code == grpc.StatusCode.NOT_FOUND
    code, msg = _code(lambda: client.create_study("m", SPACE, max_retries=101))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "max_retries" in msg
    code, msg = _code(lambda: client.create_study("m", SPACE, max_retries=-1))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "max_retries" in msg
    with pytest.raises(ValueError, match="retryable=True goes with failed="):
        study.report(1, 0.5, retryable=True)
    code, msg = _code(lambda: _tell_retryable(client))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "retryable" in msg


def _tell_retryable(client: Client) -> None:
    from archsampler_client.proto import archsampler_pb2 as pb

    msg = pb.TellRequest(study="b", architecture=pb.Architecture(text="x=9"))
    msg.failed.reason, msg.failed.retryable = "x", True
    client._invoke("Tell", msg, lambda r: r)


def test_queue_survives_a_restart_and_works_on_an_engine(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    server = ServerProcess(db).start()
    try:
        with Client(server.target) as client:
            study = client.create_study("s", SPACE, "random", max_retries=1)
            study.enqueue([{"x": 11}, {"x": 12}])
        server.stop(kill=True)
        server.start()
        with Client(server.target) as client:
            assert [t.params["x"] for t in client.study("s").propose(2)] == [11, 12]
    finally:
        server.stop(kill=True)
    with Engine(str(tmp_path / "e.db")) as engine:
        es = engine.create_study("s", SPACE, "random", max_retries=1)
        (t,) = es.propose(1)
        es.report(t.id, failed="oom", retryable=True)
        assert es.propose(1)[0].arch == t.arch
