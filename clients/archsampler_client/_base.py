"""What the blocking and the asyncio client share: their settings and lazy stub."""

from __future__ import annotations

from typing import Any

import grpc

from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc
from archsampler_client.security import call_metadata


class ClientBase:
    """Connection settings of a client.

    Args:
        target: `host:port` of the server.
        timeout: per-call deadline in seconds.
        retries: how many times an UNAVAILABLE call is retried (with backoff).
        credentials: channel credentials for TLS (see `tls_credentials`); None means an
            insecure channel.
        metadata: call metadata sent with every request.
        token: bearer token, sent as `authorization: Bearer <token>` metadata.
    """

    _grpc: Any = grpc  # module with secure_channel / insecure_channel (grpc or grpc.aio)

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        timeout: float = 30.0,
        retries: int = 8,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: list[tuple[str, str]] | None = None,
        token: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.credentials = credentials
        self.metadata = call_metadata(metadata, token)
        self._channel: Any = None
        self._stub: pb_grpc.ArchSamplerStub | None = None

    def _get_stub(self) -> pb_grpc.ArchSamplerStub:
        if self._stub is None:
            self._channel = (
                self._grpc.secure_channel(self.target, self.credentials)
                if self.credentials is not None
                else self._grpc.insecure_channel(self.target)
            )
            self._stub = pb_grpc.ArchSamplerStub(self._channel)
        return self._stub

    def __getstate__(self) -> dict[str, Any]:
        """Pickle-safe: the channel is dropped and reopened on first use."""
        state = dict(self.__dict__)
        state["_channel"] = state["_stub"] = None
        return state
