"""Health checking under many `Watch` streams: Check, every RPC and SIGTERM keep working."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc

from archsampler.server.app import DRAIN_SECONDS
from archsampler.server.health import MAX_WATCHERS
from archsampler.testing import ServerProcess
from archsampler_client import ArchSamplerError
from archsampler_client import Client
from archsampler_client import NotFoundError

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
GRACE = 3.0
MARGIN = DRAIN_SECONDS + 3.0  # the writer's drain + process exit on a busy machine
ARCHSAMPLER = "archsampler.v1.ArchSampler"
NONE_CELL = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
SKIP_CELL = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _watch(channels: list[grpc.Channel], n: int, service: str = "") -> list:
    """Open `n` Watch streams spread over `channels`; each has answered its first status."""
    calls = [
        health_pb2_grpc.HealthStub(channels[i % len(channels)]).Watch(
            health_pb2.HealthCheckRequest(service=service), timeout=120
        )
        for i in range(n)
    ]
    assert all(next(call).status == SERVING for call in calls)
    return calls


def _check(channel: grpc.Channel, service: str = "") -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status


def _every_rpc_works(target: str) -> None:
    """One call of each ArchSampler RPC (unary and Session) through the SDK."""
    with Client(target, retries=0, timeout=10) as client:
        study = client.create_study("after-watch", space="nb201", strategy="random")
        assert study.info().name == "after-watch"
        assert "after-watch" in {s.name for s in client.list_studies()}
        first, second = study.propose(count=2, client_id="w")
        assert study.heartbeat(second.id).id == second.id
        assert study.report(first.id, value=0.5).state == "COMPLETED"
        cell = NONE_CELL if NONE_CELL not in (first.arch, second.arch) else SKIP_CELL
        assert study.tell(cell, value=0.25).state == "COMPLETED"
        with study.session() as session:
            (trial,) = session.propose(client_id="s")
            done, (nxt,) = session.report_and_propose(trial.id, value=0.75, client_id="s")
            assert done.state == "COMPLETED" and nxt.id != trial.id
        assert len(list(study.trials())) >= 4
        assert study.best().value == 0.75
        with pytest.raises(ArchSamplerError, match="no trained model") as no_model:
            study.predict([first.arch])
        assert no_model.value.code == grpc.StatusCode.FAILED_PRECONDITION
        study.delete()
        with pytest.raises(NotFoundError):
            study.info()


def test_watch_streams_opened_and_cancelled_leave_check_rpcs_and_sigterm_working(
    tmp_path: Path,
) -> None:
    srv = ServerProcess(tmp_path / "h.db", ARCHSAMPLER_SHUTDOWN_GRACE_SECONDS=str(GRACE)).start()
    channels = [grpc.insecure_channel(srv.target) for _ in range(4)]
    try:
        for _ in range(2):  # open and cancel twice: nothing leaks between rounds
            calls = _watch(channels, 96) + _watch(channels, 4, ARCHSAMPLER)
            assert _check(channels[0]) == SERVING  # answered while 100 streams are open
            assert _check(channels[1], ARCHSAMPLER) == SERVING
            for call in calls:
                call.cancel()
        assert _check(channels[2]) == SERVING
        _every_rpc_works(srv.target)
        with pytest.raises(grpc.RpcError) as unknown:
            _check(channels[0], "no.such.Service")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert "no.such.Service" in unknown.value.details()

        calls = _watch(channels, 64)  # left open: SIGTERM ends them, not the grace period
        code, seconds = srv.terminate(timeout=GRACE + MARGIN + 30)
        assert code == 0, f"exit code {code} after {seconds:.1f} s"
        assert seconds < GRACE + MARGIN, f"exited {seconds:.1f} s after SIGTERM"
        for call in calls:  # each watcher was told, then its stream ended
            assert [r.status for r in call] == [NOT_SERVING]
            assert call.code() == grpc.StatusCode.OK
    finally:
        for channel in channels:
            channel.close()
        if srv.proc is not None:
            srv.stop(kill=True)


def test_watch_streams_beyond_the_limit_are_resource_exhausted(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "l.db") as srv:
        channels = [grpc.insecure_channel(srv.target) for _ in range(8)]
        try:
            calls = _watch(channels, MAX_WATCHERS)
            extra = health_pb2_grpc.HealthStub(channels[0]).Watch(
                health_pb2.HealthCheckRequest(), timeout=30
            )
            with pytest.raises(grpc.RpcError) as refused:
                next(extra)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"the limit is {MAX_WATCHERS}" in refused.value.details()
            assert _check(channels[1]) == SERVING  # Check is not a stream: never refused
            calls.pop().cancel()
            calls += _watch(channels, 1)  # a cancelled stream frees its place
            for call in calls:
                call.cancel()
            assert len(_watch(channels, 8)) == 8
        finally:
            for channel in channels:
                channel.close()
