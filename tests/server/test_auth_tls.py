"""Bearer-token auth, TLS and mutual TLS against real servers (certificates made by `openssl`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc

from archsampler.config import Settings
from archsampler.server.access import Principal
from archsampler.server.auth import PrincipalTable
from archsampler.server.auth import bearer_token
from archsampler.server.auth import token_digest
from archsampler.server.tls import server_credentials
from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient
from archsampler_client import Client
from archsampler_client import tls_credentials

TOKEN = "s3cret-token"


def _code(client: Client) -> grpc.StatusCode:
    with pytest.raises(ArchSamplerError) as info:
        client.list_studies()
    return info.value.code


def _health(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status


def _reflect(channel: grpc.Channel, metadata: list[tuple[str, str]] | None) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answers = stub.ServerReflectionInfo(iter([request]), timeout=10, metadata=metadata)
    return [s.name for a in answers for s in a.list_services_response.service]


def test_tls_with_token_auth(tmp_path: Path, certs: Path) -> None:
    tls = {"tls_cert_file": str(certs / "server.pem"), "tls_key_file": str(certs / "server.key")}
    creds = tls_credentials(certs / "ca.pem")
    with ServerThread(tmp_path / "a.db", auth_tokens=[TOKEN, "other-token"], **tls) as srv:
        with Client(srv.target, credentials=creds, token=TOKEN, retries=0) as ok:
            ok.create_study("s", space="nb201", strategy="random")
            assert [s.name for s in ok.list_studies()] == ["s"]
        with Client(srv.target, credentials=creds, token="other-token", retries=0) as ok2:
            assert len(ok2.study("s").propose(2)) == 2
        with Client(srv.target, credentials=creds, retries=0) as anonymous:
            assert _code(anonymous) == grpc.StatusCode.UNAUTHENTICATED
        with Client(srv.target, credentials=creds, token="wrong", retries=0) as wrong:
            assert _code(wrong) == grpc.StatusCode.UNAUTHENTICATED
        basic = [("authorization", f"Basic {TOKEN}")]
        with Client(srv.target, credentials=creds, metadata=basic, retries=0) as scheme:
            assert _code(scheme) == grpc.StatusCode.UNAUTHENTICATED
        with Client(srv.target, token=TOKEN, timeout=5, retries=0) as plaintext:
            assert _code(plaintext) == grpc.StatusCode.UNAVAILABLE
        with grpc.secure_channel(srv.target, creds) as channel:
            # health stays open for load balancers; reflection needs the token
            assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as info:
                _reflect(channel, None)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "archsampler.v1.ArchSampler" in _reflect(
                channel, [("authorization", f"Bearer {TOKEN}")]
            )


def test_async_client_token_over_plaintext(tmp_path: Path) -> None:
    async def main(target: str) -> None:
        async with AsyncClient(target, token=TOKEN, retries=0) as ok:
            await ok.create_study("s", space="nb201", strategy="random")
            assert [s.name for s in await ok.list_studies()] == ["s"]
        async with AsyncClient(target, token="nope", retries=0) as wrong:
            with pytest.raises(ArchSamplerError) as info:
                await wrong.list_studies()
            assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
            assert "invalid bearer token" in info.value.details

    with ServerThread(tmp_path / "b.db", auth_tokens=[TOKEN]) as srv:
        asyncio.run(main(srv.target))


def test_mutual_tls_requires_a_client_cert_from_the_ca(tmp_path: Path, certs: Path) -> None:
    settings = {
        "tls_cert_file": str(certs / "server.pem"),
        "tls_key_file": str(certs / "server.key"),
        "tls_client_ca_file": str(certs / "ca.pem"),
    }
    ca = certs / "ca.pem"
    with ServerThread(tmp_path / "m.db", **settings) as srv:
        with Client(srv.target, credentials=tls_credentials(ca), timeout=5, retries=0) as no_cert:
            assert _code(no_cert) == grpc.StatusCode.UNAVAILABLE
        rogue = tls_credentials(ca, certs / "rogue.pem", certs / "rogue.key")
        with Client(srv.target, credentials=rogue, timeout=5, retries=0) as impostor:
            assert _code(impostor) == grpc.StatusCode.UNAVAILABLE
        good = tls_credentials(ca, certs / "client.pem", certs / "client.key")
        with Client(srv.target, credentials=good, retries=0) as client:
            client.create_study("m", space="nb201", strategy="random")
            assert [s.name for s in client.list_studies()] == ["m"]


def secrets(settings: Settings) -> list[str]:
    assert settings.auth_tokens is not None
    return [t.get_secret_value() for t in settings.auth_tokens]


def test_tokens_from_environment_and_matching(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHSAMPLER_AUTH_TOKENS", " a1, b2 ,")
    assert secrets(Settings()) == ["a1", "b2"]
    assert "a1" not in repr(Settings())  # never shown in a repr or log line
    monkeypatch.setenv("ARCHSAMPLER_AUTH_TOKENS", '["x,y", "z"]')
    assert secrets(Settings()) == ["x,y", "z"]
    monkeypatch.setenv("ARCHSAMPLER_AUTH_TOKENS", "")
    assert secrets(Settings()) == []  # set but empty: the server refuses it
    monkeypatch.delenv("ARCHSAMPLER_AUTH_TOKENS")
    assert Settings().auth_tokens is None  # unset: auth off
    a, b = Principal("a", "read", "ns"), Principal("b", "admin", "default")
    table = PrincipalTable([(token_digest("x,y"), a), (token_digest("z"), b)])
    assert table.lookup("z") is b and table.lookup("x,y") is a
    assert table.lookup("x") is None and table.lookup("") is None
    assert bearer_token([("authorization", "bearer  z ")]) == "z"
    assert bearer_token([("x-other", "Bearer z")]) is None
    assert bearer_token([("authorization", "Token z")]) is None


def test_tls_settings_are_validated(tmp_path: Path, certs: Path) -> None:
    cert, key, ca = (str(certs / n) for n in ("server.pem", "server.key", "ca.pem"))
    assert server_credentials(Settings(db="x")) is None
    assert server_credentials(Settings(db="x", tls_cert_file=cert, tls_key_file=key)) is not None
    with pytest.raises(ValueError, match="both tls_cert_file and tls_key_file"):
        server_credentials(Settings(db="x", tls_cert_file=cert))
    with pytest.raises(ValueError, match="needs tls_cert_file"):
        server_credentials(Settings(db="x", tls_client_ca_file=ca))
    with pytest.raises(ValueError, match="cannot read TLS key"):
        server_credentials(Settings(db="x", tls_cert_file=cert, tls_key_file=str(tmp_path / "no")))
    with pytest.raises(ValueError, match="both cert_file and key_file"):
        tls_credentials(ca, cert_file=cert)


def test_every_streaming_kind_runs_as_its_callers_principal() -> None:
    """A real grpc.aio server with the auth interceptor and one method of each streaming kind,
    each answering with the principal it sees (`access.CURRENT`) in its own task."""
    from archsampler.server.access import CURRENT
    from archsampler.server.auth import TokenAuthInterceptor

    def who() -> bytes:
        principal = CURRENT.get()
        return b"none" if principal is None else principal.name.encode()

    async def unary_unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(0)
        return who()

    async def unary_stream(request: bytes, context: grpc.aio.ServicerContext):
        for _ in range(2):
            await asyncio.sleep(0)
            yield who()

    async def stream_unary(requests, context: grpc.aio.ServicerContext) -> bytes:
        return b"".join([r async for r in requests]) + who()

    async def stream_stream(requests, context: grpc.aio.ServicerContext):
        async for r in requests:
            yield r + who()

    methods = {
        "UU": grpc.unary_unary_rpc_method_handler(unary_unary),
        "US": grpc.unary_stream_rpc_method_handler(unary_stream),
        "SU": grpc.stream_unary_rpc_method_handler(stream_unary),
        "SS": grpc.stream_stream_rpc_method_handler(stream_stream),
    }
    table = PrincipalTable(
        [
            (token_digest("ta"), Principal("alice", "read", "a")),
            (token_digest("tb"), Principal("bob", "write", "b")),
        ]
    )

    async def main() -> None:
        server = grpc.aio.server(interceptors=[TokenAuthInterceptor(table)])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.T", methods),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

                async def calls(token: str) -> list:
                    md = (("authorization", f"Bearer {token}"),)
                    uu = await channel.unary_unary("/t.T/UU")(b"", metadata=md)
                    us = [r async for r in channel.unary_stream("/t.T/US")(b"", metadata=md)]
                    su = await channel.stream_unary("/t.T/SU")(iter([b"x:"]), metadata=md)
                    ss = channel.stream_stream("/t.T/SS")(iter([b"1:", b"2:"]), metadata=md)
                    return [uu, us, su, [r async for r in ss]]

                # interleaved callers never see each other's principal
                got = await asyncio.gather(*(calls(t) for t in ("ta", "tb") * 8))
                for token, answers in zip(("ta", "tb") * 8, got, strict=True):
                    name = b"alice" if token == "ta" else b"bob"
                    assert answers == [
                        name,
                        [name, name],
                        b"x:" + name,
                        [b"1:" + name, b"2:" + name],
                    ]
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await channel.unary_unary("/t.T/UU")(
                        b"", metadata=(("authorization", "Bearer x"),)
                    )
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            await server.stop(None)

    asyncio.run(main())
