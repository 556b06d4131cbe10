"""`grpc.health.v1.Health` on the event loop, with a bound on open `Watch` streams.

grpcio-health-checking's synchronous servicer parks one thread per `Watch` stream (on a
grpc.aio server: the event loop's default executor, a handful of threads), so a few open
streams starved `Check` and kept the server from stopping. Here every call is a coroutine,
at most `MAX_WATCHERS` streams are served at once (RESOURCE_EXHAUSTED beyond), and
`enter_graceful_shutdown` answers every watcher NOT_SERVING and ends its stream, so open
streams never hold a shutdown for its grace period.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc

SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
MAX_WATCHERS = 1024
Status = health_pb2.HealthCheckResponse.ServingStatus


class HealthService(health_pb2_grpc.HealthServicer):
    """Health checking for a grpc.aio server; call its methods on the server's event loop.

    Args:
        max_watchers: how many `Watch` streams may be open at once.
    """

    def __init__(self, max_watchers: int = MAX_WATCHERS) -> None:
        self.max_watchers = max_watchers
        self.watchers = 0
        self._status: dict[str, Status] = {"": health_pb2.HealthCheckResponse.SERVING}
        self._changed = asyncio.Event()  # replaced at every change: a generation
        self._shutting_down = False

    def set(self, service: str, status: Status) -> None:
        """Set a service's status and wake its watchers (ignored once shutting down)."""
        if not self._shutting_down:
            self._set(service, status)

    def enter_graceful_shutdown(self) -> None:
        """Every service is NOT_SERVING from now on; watchers get that and their streams end."""
        if self._shutting_down:
            return
        self._shutting_down = True
        for service in self._status:
            self._set(service, health_pb2.HealthCheckResponse.NOT_SERVING)

    def _set(self, service: str, status: Status) -> None:
        self._status[service] = status
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def Check(self, request: health_pb2.HealthCheckRequest, context: Any) -> Any:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"unknown service {request.service[:200]!r}"
            )
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        """Stream the service's status now and at every change (SERVICE_UNKNOWN if unknown)."""
        if self.watchers >= self.max_watchers:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.watchers} health Watch streams are open, the limit is "
                f"{self.max_watchers}: use Check, or retry later",
            )
        self.watchers += 1
        try:
            last = None
            while True:
                changed = self._changed  # taken before reading: a change meanwhile sets it
                status = self._status.get(
                    request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                )
                if status != last:
                    await context.write(health_pb2.HealthCheckResponse(status=status))
                    last = status
                if self._shutting_down:
                    return  # NOT_SERVING was sent: end the stream, do not hold the shutdown
                await changed.wait()
        finally:
            self.watchers -= 1
