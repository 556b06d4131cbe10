"""The Katib port: `api.v1.beta1.Suggestion` and gRPC health on a grpc.aio server of its own.

It shares the main server's `StudyService`, executor and event loop. Katib's controller
dials it without TLS or tokens, so this port has neither (bind it where only Katib reaches
it, e.g. the suggestion pod's port 6789); its studies are in namespace `default`. Health
answers SERVING for "", `manager.v1beta1.Suggestion` (the service Katib's gRPC probe names)
and `api.v1.beta1.Suggestion`.
"""

from __future__ import annotations

import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc

from archsampler.katib import PROBE_SERVICE
from archsampler.katib._proto import api_pb2 as kpb
from archsampler.katib._proto import api_pb2_grpc as kpb_grpc
from archsampler.katib.backend import StudyBackend
from archsampler.katib.servicer import KatibSuggestionServicer
from archsampler.server.health import HealthService
from archsampler.study import StudyService

log = logging.getLogger(__name__)
SUGGESTION_SERVICE = kpb.DESCRIPTOR.services_by_name["Suggestion"].full_name
HEALTH_NAMES = ("", PROBE_SERVICE, SUGGESTION_SERVICE)


def _bindable(host: str, port: int) -> bool:
    """Whether `host:port` can be bound now (as grpc binds: SO_REUSEADDR); port 0 always."""
    if port == 0:
        return True
    try:
        found = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        return False
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError:
                return False
    return True


@dataclass
class KatibServer:
    """The started Katib port; `stop()` ends it (health first)."""

    server: grpc.aio.Server
    port: int
    health: HealthService

    async def stop(self, grace: float | None) -> None:
        self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_katib_server(
    service: StudyService,
    executor: ThreadPoolExecutor,
    host: str,
    port: int,
    max_message_bytes: int,
) -> KatibServer:
    """Serve Katib's suggestion API on `host:port` (0 = any free port)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    servicer = KatibSuggestionServicer(StudyBackend(service, executor), service.default_strategy)
    kpb_grpc.add_SuggestionServicer_to_server(servicer, server)
    health = HealthService()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    bound = 0
    if _bindable(host, port):  # else grpc would log its own error line before failing
        try:
            bound = server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:  # grpc: "Failed to bind to address ..."
            bound = 0
    if bound == 0:
        raise OSError(
            f"cannot listen on {host}:{port} for the Katib suggestion service (--katib-port): "
            "the port is taken or the address is not this host's"
        )
    await server.start()
    for name in HEALTH_NAMES:
        health.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("katib suggestion service on %s:%d", host, bound)
    return KatibServer(server, bound, health)
