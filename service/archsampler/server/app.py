"""Build, start and stop the gRPC server (grpc.aio, health checking, reflection)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from typing import NoReturn

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from archsampler.assembly import build_service
from archsampler.config import Settings
from archsampler.dashboard import Dashboard
from archsampler.gcpause import freeze_startup_objects
from archsampler.katib.server import KatibServer
from archsampler.katib.server import start_katib_server
from archsampler.priority import SHORT
from archsampler.server.access import AUTH_OFF
from archsampler.server.auth import TokenAuthInterceptor
from archsampler.server.auth import load_principals
from archsampler.server.health import SERVICE_NAME as HEALTH_SERVICE_NAME
from archsampler.server.health import HealthService
from archsampler.server.metrics import RpcMetricsInterceptor
from archsampler.server.metrics import ServerMetrics
from archsampler.server.metrics import record_model
from archsampler.server.metrics import record_refusal
from archsampler.server.servicer import ArchSamplerServicer
from archsampler.server.tls import server_credentials
from archsampler.storage import SQLStorage
from archsampler.study import StudyService
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ArchSampler"].full_name
DRAIN_SECONDS = 2.0  # after the grace period: the writer's time to commit what it holds


@dataclass
class RunningServer:
    """A started server and what it owns; `stop()` releases everything."""

    server: grpc.aio.Server
    port: int
    service: StudyService
    storage: SQLStorage
    executor: ThreadPoolExecutor
    health: HealthService
    sweeper: asyncio.Task[None]
    metrics: ServerMetrics | None = None
    metrics_port: int | None = None
    katib: KatibServer | None = None  # the Katib suggestion port (ARCHSAMPLER_KATIB_PORT)
    dashboard: Dashboard | None = None  # the web dashboard (ARCHSAMPLER_DASHBOARD_PORT)

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stop within `grace` seconds, plus at most `DRAIN_SECONDS` for the writer.

        Health answers NOT_SERVING (Watch streams end); new calls are refused; calls in
        flight (open Sessions included) may finish until `grace`, then are cancelled. The
        writer then commits what it holds, training children are killed, storage closes. A
        writer still busy after that (a slow proposal, a locked database) is left behind:
        nothing it holds was acknowledged, so nothing acknowledged is lost.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (grace or 0.0)
        self.health.enter_graceful_shutdown()
        self.sweeper.cancel()
        if self.dashboard is not None:
            self.dashboard.close()
        try:
            if self.katib is not None:
                await asyncio.gather(self.katib.stop(grace), self.server.stop(grace))
            else:
                await self.server.stop(grace)
            budget = max(deadline - loop.time(), DRAIN_SECONDS)
            if not await _finish_within(budget, self.service.close):
                log.warning(
                    "shutdown: the writer is still busy %.1f s after the last call ended; "
                    "stopping without it (what it holds was never acknowledged)",
                    budget,
                )
                if self.service.models is not None:
                    await _finish_within(DRAIN_SECONDS, self.service.models.close)
        finally:
            self.executor.shutdown(wait=False, cancel_futures=True)
            if self.metrics is not None:
                self.metrics.close()
            self.storage.close()


async def _finish_within(seconds: float, fn: Callable[[], None]) -> bool:
    """Run `fn` in a daemon thread; whether it finished within `seconds` (errors logged)."""
    done = threading.Event()

    def target() -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - shutdown goes on: storage must still close
            log.exception("shutdown: %s failed", getattr(fn, "__qualname__", fn))
        finally:
            done.set()

    threading.Thread(target=target, name="archsampler-stop", daemon=True).start()
    end = time.monotonic() + seconds
    while not done.is_set() and time.monotonic() < end:
        await asyncio.sleep(0.02)
    return done.is_set()


async def _sweep_leases(service: StudyService, executor: ThreadPoolExecutor, every: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        try:
            expired = await loop.run_in_executor(executor, service.expire_leases)
            if expired:
                log.info("%d trial lease(s) expired: now STALE", expired)
        except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
            log.exception("lease sweep failed")


async def start_server(settings: Settings) -> RunningServer:
    """Open storage, start serving on `settings.host:settings.port`, return the handle.

    TLS, bearer-token auth and the metrics endpoint are on when their settings are set.
    """
    credentials = server_credentials(settings)  # fail on unreadable files before opening the db
    principals = load_principals(settings)  # fail closed on a set but unusable auth setting
    service = build_service(settings, on_model=record_model, on_refused=record_refusal)
    storage, models = service.storage, service.models
    executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="archsampler")
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    metrics = None
    if settings.metrics_port is not None:
        metrics = ServerMetrics(
            service.list_studies,
            study_labels=settings.metrics_study_labels,
            principals=principals if settings.metrics_require_token else None,
        )
    interceptors: list[grpc.aio.ServerInterceptor] = []
    if metrics is not None or logging.getLogger("archsampler").isEnabledFor(logging.DEBUG):
        interceptors.append(RpcMetricsInterceptor(metrics))  # per-call cost: only when used
    if principals is not None:  # after metrics, so rejected calls count as UNAUTHENTICATED
        interceptors.append(TokenAuthInterceptor(principals))
    server = grpc.aio.server(options=options, interceptors=interceptors)
    observe = metrics.observe_rpc if metrics is not None else None
    anonymous = AUTH_OFF if principals is None else None  # auth off: everyone is an admin
    SHORT.bulk_share = settings.bulk_share  # the servicer stamps the short calls it paces for
    servicer = ArchSamplerServicer(
        service,
        executor,
        observe,
        anonymous=anonymous,
        max_message_bytes=settings.max_message_bytes,
        max_sessions=settings.max_sessions,
    )
    pb_grpc.add_ArchSamplerServicer_to_server(servicer, server)
    health_servicer = HealthService()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{settings.host}:{settings.port}"
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        storage.close()
        raise OSError(f"cannot listen on {address}")
    metrics_port = None
    if metrics is not None:
        try:
            metrics_port = metrics.serve(settings.host, settings.metrics_port or 0)
        except OSError:
            storage.close()
            raise
        log.info("metrics on http://%s:%d/metrics", settings.host, metrics_port)
    dashboard = None
    if settings.dashboard_port is not None:
        dashboard = Dashboard(service, storage, models, principals)
        try:
            dashboard.serve(settings.host, settings.dashboard_port, _dashboard_tls(settings))
        except OSError:
            if metrics is not None:
                metrics.close()
            storage.close()
            raise
        log.info("dashboard on port %d", dashboard.port)
    katib = None
    if settings.katib_port is not None:
        try:
            katib = await start_katib_server(
                service, executor, settings.host, settings.katib_port, settings.max_message_bytes
            )
        except OSError:
            if metrics is not None:
                metrics.close()
            if dashboard is not None:
                dashboard.close()
            storage.close()
            raise
    await server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    # a twentieth of the lease at most: a dead trainer's trial turns STALE at most 5 % of a
    # lease after its lease ends (one lease after its last heartbeat)
    every = min(settings.lease_sweep_seconds, settings.lease_seconds / 20)
    sweeper = asyncio.create_task(_sweep_leases(service, executor, every))
    log.info(
        "archsampler serving on %s:%d (db %s, tls %s, auth %s)",
        settings.host,
        port,
        storage.url,
        "off" if credentials is None else "mutual" if settings.tls_client_ca_file else "on",
        "off" if principals is None else f"on, {len(principals)} token(s)",
    )
    return RunningServer(
        server,
        port,
        service,
        storage,
        executor,
        health_servicer,
        sweeper,
        metrics,
        metrics_port,
        katib,
        dashboard,
    )


def _dashboard_tls(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS with the gRPC server's certificate when TLS is on (tokens never in clear), and
    client certificates required when gRPC requires them (mutual TLS)."""
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_client_ca_file:
        context.load_verify_locations(settings.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def serve_forever(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM, then shut down within the grace period; a second signal
    exits at once (code 1)."""
    running = await start_server(settings)
    freeze_startup_objects()  # GC passes skip the modules loaded so far
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"archsampler listening on {settings.host}:{running.port}", flush=True)
    if running.metrics_port is not None:
        print(f"metrics on http://{settings.host}:{running.metrics_port}/metrics", flush=True)
    if running.katib is not None:
        print(f"katib suggestion service on {settings.host}:{running.katib.port}", flush=True)
    if running.dashboard is not None:
        scheme = "https" if settings.tls_cert_file else "http"
        print(f"dashboard on {scheme}://{settings.host}:{running.dashboard.port}/", flush=True)
    if ready is not None:
        ready.set()
    await stop.wait()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _exit_now)
    log.info("shutting down (grace %.1f s)", settings.shutdown_grace_seconds)
    await running.stop(settings.shutdown_grace_seconds)
    log.info("stopped")


def _exit_now() -> None:
    log.warning("second signal during shutdown: exiting now")
    logging.shutdown()
    os._exit(1)


def _exit_after_stop(wait: float = 1.0) -> NoReturn:
    """Exit (code 0) once `stop` has closed everything, without the interpreter's teardown.

    Teardown took 1-3 s on a busy machine, and Python would wait there for threads that
    still serve cancelled calls (a slow proposal, a locked database) and hold nothing that
    was acknowledged: they get `wait` seconds, then are left behind.
    """
    end = time.monotonic() + wait
    busy = [t for t in threading.enumerate() if t is not threading.current_thread()]
    for thread in busy:
        if not thread.daemon:
            thread.join(max(0.0, end - time.monotonic()))
    names = [t.name for t in busy if t.is_alive() and not t.daemon]
    if names:
        log.warning("exiting without %d busy thread(s): %s", len(names), ", ".join(names))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run(settings: Settings) -> NoReturn:
    """Blocking entry point: uvloop event loop + `serve_forever`, then exit (code 0)."""
    import uvloop

    uvloop.run(serve_forever(settings))
    _exit_after_stop()
