"""Open Session streams are bounded per principal: one more is RESOURCE_EXHAUSTED with the
limit in its message, a closed or cancelled stream frees its place, and one principal's
streams never use up another's."""

from __future__ import annotations

import hashlib
import json
import queue
import time
from pathlib import Path

import grpc
import pytest

from archsampler.testing import ServerThread
from archsampler.testing.fuzz import run_session_flood
from archsampler_client import Client
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc

SPACE = {"params": [{"name": "x", "type": "int", "low": 0, "high": 999}]}
A, B = "tenant-a-token", "tenant-b-token"


def _auth_file(path: Path) -> str:
    principals = [
        {"name": name, "role": "write", "namespace": name,
         "token_sha256": hashlib.sha256(token.encode()).hexdigest()}
        for name, token in (("a", A), ("b", B))
    ]  # fmt: skip
    path.write_text(json.dumps({"principals": principals}))
    return str(path)


def _open(stub: pb_grpc.ArchSamplerStub, study: str, token: str | None) -> grpc.Call:
    """A Session stream with one call answered, so it is open on the server."""
    meta = None if token is None else [("authorization", f"Bearer {token}")]
    q: queue.SimpleQueue = queue.SimpleQueue()

    def requests():
        while (item := q.get()) is not None:
            yield item

    call = stub.Session(requests(), metadata=meta)
    q.put(pb.SessionRequest(heartbeat=pb.HeartbeatRequest(study=study, trial_id=10**9)))
    first = next(call)  # NOT_FOUND for that trial: an answer, so the stream is open
    assert first.WhichOneof("result") == "error"
    call.requests = q  # type: ignore[attr-defined]
    return call


def _refused(stub: pb_grpc.ArchSamplerStub, study: str, token: str | None) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        _open(stub, study, token)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    return caught.value.details()


def _close(call: grpc.Call) -> None:
    call.requests.put(None)  # type: ignore[attr-defined]
    for _ in call:  # to the end of the stream
        pass


def _eventually_open(stub: pb_grpc.ArchSamplerStub, study: str, token: str | None):
    """Open a stream once the server has let go of a closed or cancelled one."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return _open(stub, study, token)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_sessions_are_bounded_and_freed(tmp_path: Path) -> None:
    with ServerThread(tmp_path / "s.db", max_sessions=3) as srv:
        with Client(srv.target) as client:
            client.create_study("s", SPACE, "random")
        channel = grpc.insecure_channel(srv.target)
        stub = pb_grpc.ArchSamplerStub(channel)
        calls = [_open(stub, "s", None) for _ in range(3)]
        message = _refused(stub, "s", None)
        assert "3 Session streams are open" in message and "ARCHSAMPLER_MAX_SESSIONS" in message
        _close(calls.pop())  # a stream ended by its client frees its place
        calls.append(_eventually_open(stub, "s", None))
        _refused(stub, "s", None)
        calls.pop().cancel()  # so does a cancelled one
        calls.append(_eventually_open(stub, "s", None))
        _refused(stub, "s", None)
        for call in calls:
            call.cancel()
        calls = [_eventually_open(stub, "s", None) for _ in range(3)]  # all three free again
        for call in calls:
            call.cancel()
        channel.close()


def test_one_principal_cannot_use_up_anothers_sessions(tmp_path: Path) -> None:
    auth = _auth_file(tmp_path / "auth.json")
    with ServerThread(tmp_path / "p.db", max_sessions=2, auth_file=auth) as srv:
        for token, name in ((A, "sa"), (B, "sb")):
            with Client(srv.target, token=token) as client:
                client.create_study(name, SPACE, "random")
        channel = grpc.insecure_channel(srv.target)
        stub = pb_grpc.ArchSamplerStub(channel)
        held = [_open(stub, "sa", A) for _ in range(2)]
        assert "principal 'a'" in _refused(stub, "sa", A)
        others = [_open(stub, "sb", B) for _ in range(2)]  # b's own two places
        assert "principal 'b'" in _refused(stub, "sb", B)
        with pytest.raises(grpc.RpcError) as caught:  # no token: refused before a Session
            _open(stub, "sb", None)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        for call in held + others:
            call.cancel()
        channel.close()


def test_bench_fuzz_session_flood_reports_the_limit_holding(tmp_path: Path) -> None:
    """`bench fuzz`'s Session flood, against a server with 8 places."""
    with ServerThread(tmp_path / "f.db", max_sessions=8) as srv:
        result = run_session_flood(srv.target, 16)
    assert result["ok"], result
    assert result["codes"] == {"OK": 8, "RESOURCE_EXHAUSTED": 8}
    assert result["session_after"] == "error"  # answered: NOT_FOUND for its fake trial
