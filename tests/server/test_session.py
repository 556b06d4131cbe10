"""`Session` streams: the unary semantics over one stream, for both SDK clients."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from archsampler.testing import ServerProcess
from archsampler.testing import ServerThread
from archsampler_client import AlreadyExistsError
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient
from archsampler_client import Client
from archsampler_client import InvalidArgumentError
from archsampler_client import NotFoundError
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc


def test_session_proposes_reports_and_answers_errors_in_band(client) -> None:
    study = client.create_study("s", space="nb201", strategy="random")
    with study.session() as session:
        trials = session.propose(count=3, client_id="w")
        assert len({t.arch_hash for t in trials}) == 3
        done = session.report(trials[0].id, value=91.5)
        assert (done.state, done.value) == ("COMPLETED", 91.5)
        assert session.report(trials[0].id, value=91.5).id == done.id  # idempotent
        with pytest.raises(AlreadyExistsError, match="already reported"):
            session.report(trials[0].id, value=1.0)
        with pytest.raises(NotFoundError, match="trial 999999 not found"):
            session.report(999_999, value=1.0)
        with pytest.raises(InvalidArgumentError, match="count"):
            session.propose(count=0)
        beat = session.heartbeat(trials[1].id)  # the stream survived every error
        assert beat.lease_expires_at >= trials[1].lease_expires_at
        again = session.propose(count=1, request_id="retry-key")
        assert session.propose(count=1, request_id="retry-key") == again
    info = study.info()
    assert (info.trial_count, info.completed_count) == (4, 1)


def test_an_empty_session_request_is_invalid_argument(server) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.ArchSamplerStub(channel)
        (resp,) = list(stub.Session(iter([pb.SessionRequest()]), timeout=10))
    assert resp.WhichOneof("result") == "error"
    assert resp.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "one of propose, report, heartbeat" in resp.error.message


def test_async_sessions_of_parallel_trainers_get_distinct_archs(server) -> None:
    async def main() -> list[tuple[int, str]]:
        async with AsyncClient(server.target) as c:
            study = await c.create_study("par", space="nb201", strategy="lanas")

            async def trainer(k: int) -> list[tuple[int, str]]:
                out = []
                async with study.session() as session:
                    for _ in range(6):
                        (trial,) = await session.propose(client_id=f"w{k}")
                        await session.report(trial.id, value=float(trial.id % 13))
                        out.append((trial.id, trial.arch_hash))
                return out

            runs = await asyncio.gather(*(trainer(k) for k in range(8)))
            return [x for run in runs for x in run]

    done = asyncio.run(main())
    assert len({h for _, h in done}) == 48
    with Client(server.target) as c:
        stored = {t.id: t for t in c.study("par").trials()}
    assert all(stored[i].state == "COMPLETED" for i, _ in done) and len(stored) == 48


def test_session_survives_a_server_kill(tmp_path) -> None:
    srv = ServerProcess(tmp_path / "k.db").start()
    acked: dict[int, float] = {}
    with Client(srv.target, retries=12) as c:
        study = c.create_study("k", space="nb201", strategy="random")
        with study.session() as session:
            for i in range(10):
                (trial,) = session.propose()
                acked[session.report(trial.id, value=float(i)).id] = float(i)
            srv.stop(kill=True)
            restart = threading.Timer(1.0, srv.start)
            restart.start()
            for i in range(10, 20):  # the SDK reopens the stream and resends
                (trial,) = session.propose()
                acked[session.report(trial.id, value=float(i)).id] = float(i)
            restart.join()
        stored = {t.id: t.value for t in study.trials()}
    srv.stop()
    assert len(acked) == 20 and {k: stored[k] for k in acked} == acked


def test_session_needs_the_token_when_auth_is_on(tmp_path) -> None:
    with ServerThread(tmp_path / "a.db", auth_tokens=["tok"]) as srv:
        with Client(srv.target, token="tok") as c:
            c.create_study("a", space="nb201", strategy="random")
            with c.study("a").session() as session:
                assert len(session.propose()) == 1
        with Client(srv.target, retries=0) as anonymous:
            with anonymous.study("a").session() as session:
                with pytest.raises(ArchSamplerError) as info:
                    session.propose()
    assert info.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_async_session_call_past_its_deadline_fails_and_the_session_recovers(tmp_path) -> None:
    """The writer is held up (another process holds the SQLite write lock): the call ends
    with DEADLINE_EXCEEDED at the client's timeout, and the same session works afterwards."""
    import sqlite3

    db = tmp_path / "held.db"
    with ServerThread(db) as srv:

        async def main() -> tuple[ArchSamplerError, int]:
            async with AsyncClient(srv.target, timeout=0.5, retries=0) as c:
                study = await c.create_study("h", space="nb201", strategy="random")
                async with study.session() as session:
                    (first,) = await session.propose()
                    blocker = sqlite3.connect(db, isolation_level=None, timeout=5)
                    blocker.execute("BEGIN IMMEDIATE")
                    try:
                        with pytest.raises(ArchSamplerError) as late:
                            await session.report(first.id, value=1.0)
                    finally:
                        blocker.execute("ROLLBACK")
                        blocker.close()
                    c.timeout = 30
                    done = await session.report(first.id, value=1.0)  # a retry: idempotent
                    return late.value, done.id

        late, done_id = asyncio.run(main())
    assert late.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no session answer within 0.5 s" in late.details
    with ServerThread(db) as again, Client(again.target) as c:
        (stored,) = [t for t in c.study("h").trials() if t.id == done_id]
    assert stored.state == "COMPLETED" and stored.value == 1.0


def test_report_and_propose_is_one_step_and_a_failed_report_proposes_nothing(client) -> None:
    study = client.create_study("step", space="nb201", strategy="random")
    with study.session() as session:
        (first,) = session.propose()
        done, (nxt,) = session.report_and_propose(first.id, value=90.5, request_id="k1")
        assert done.id == first.id and done.state == "COMPLETED" and done.value == 90.5
        assert nxt.state == "PENDING" and nxt.arch_hash != first.arch_hash
        # A retry after a lost answer: the same report (idempotent), the same proposal.
        again = session.report_and_propose(first.id, value=90.5, request_id="k1")
        assert again == (done, [nxt])
        before = len(list(study.trials()))
        with pytest.raises(NotFoundError, match="trial 999999 not found"):
            session.report_and_propose(999_999, value=1.0)
        with pytest.raises(AlreadyExistsError, match="already reported"):
            session.report_and_propose(first.id, value=1.0)  # a different outcome
        with pytest.raises(InvalidArgumentError, match="count must be in 1..1000"):
            session.report_and_propose(nxt.id, value=1.0, count=0)
        assert len(list(study.trials())) == before  # none of the failed steps proposed
        pending = {t.id: t.state for t in study.trials()}
        assert pending[nxt.id] == "PENDING"  # the invalid call reported nothing
        done2, more = session.report_and_propose(nxt.id, value=3.0, count=2)
        assert done2.value == 3.0 and len({t.arch_hash for t in more}) == 2


def test_async_trainers_stepping_get_distinct_archs_and_every_report_is_stored(server) -> None:
    async def main() -> list[tuple[int, float]]:
        async with AsyncClient(server.target) as c:
            study = await c.create_study("steps", space="nb201", strategy="lanas")

            async def trainer(k: int) -> list[tuple[int, float]]:
                out = []
                async with study.session() as session:
                    (trial,) = await session.propose(client_id=f"w{k}")
                    for i in range(5):
                        value = float(k * 10 + i)
                        done, (trial,) = await session.report_and_propose(trial.id, value=value)
                        out.append((done.id, value))
                return out

            runs = await asyncio.gather(*(trainer(k) for k in range(8)))
            return [x for run in runs for x in run]

    reported = asyncio.run(main())
    with Client(server.target) as c:
        stored = {t.id: t for t in c.study("steps").trials()}
    assert len(stored) == 48 and len({t.arch_hash for t in stored.values()}) == 48
    assert all(stored[i].state == "COMPLETED" and stored[i].value == v for i, v in reported)
    assert sum(t.state == "PENDING" for t in stored.values()) == 8
