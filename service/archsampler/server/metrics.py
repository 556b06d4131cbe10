"""Prometheus metrics: per-RPC counts and latency, trials per study, model gauges.

Each server owns a `ServerMetrics` with its own `CollectorRegistry`, so several servers in one
process never share or collide on metrics. Predictor code reports a new model with the
module-level `record_model(study, version, seconds)`, which updates every live server.
The endpoint can require a bearer token (any principal), and study names can be left out
(trial counts then are totals over all studies, and per-study model gauges are not kept).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from archsampler.server.auth import Continuation
from archsampler.server.auth import PrincipalTable
from archsampler.server.auth import bearer_token
from archsampler.server.httpd import serve_wsgi
from archsampler.storage.base import StudyRecord

log = logging.getLogger(__name__)
SERVICE_PREFIX = "/archsampler.v1.ArchSampler/"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LIVE: weakref.WeakSet[ServerMetrics] = weakref.WeakSet()


def rpc_label(method: str) -> str:
    """`Propose` for ArchSampler methods, the full `service/Method` for others (health, …)."""
    if method.startswith(SERVICE_PREFIX):
        return method[len(SERVICE_PREFIX) :]
    return method.lstrip("/")


class TrialCollector(Collector):
    """`archsampler_trials{study,state}` and `archsampler_studies`, cached for `ttl` seconds."""

    def __init__(
        self,
        list_studies: Callable[[], list[StudyRecord]],
        ttl: float = 5.0,
        study_labels: bool = True,
    ) -> None:
        self._list_studies = list_studies
        self._ttl = ttl
        self._study_labels = study_labels
        self._lock = threading.Lock()
        self._records: list[StudyRecord] = []
        self._fetched_at = -float("inf")

    def _studies(self) -> list[StudyRecord]:
        with self._lock:
            if time.monotonic() - self._fetched_at >= self._ttl:
                try:
                    self._records = self._list_studies()
                except Exception:  # noqa: BLE001 - a scrape must not fail; serve stale counts
                    log.warning("metrics: listing studies failed", exc_info=True)
                self._fetched_at = time.monotonic()
            return self._records

    @property
    def _labels(self) -> list[str]:
        return ["study", "state"] if self._study_labels else ["state"]

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Metric names without samples (so registering does not query the database)."""
        yield GaugeMetricFamily("archsampler_trials", "trials", labels=self._labels)
        yield GaugeMetricFamily("archsampler_studies", "studies")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Counts from `StudyService.list_studies()` (at most one query per `ttl`)."""
        records = self._studies()
        trials = GaugeMetricFamily(
            "archsampler_trials",
            "trials per study by state (other = failed, infeasible, stale)"
            if self._study_labels
            else "trials of all studies by state (other = failed, infeasible, stale)",
            labels=self._labels,
        )
        totals = {"pending": 0, "completed": 0, "other": 0}
        for r in records:
            counts = {
                "pending": r.pending_count,
                "completed": r.completed_count,
                "other": r.trial_count - r.completed_count - r.pending_count,
            }
            for state, count in counts.items():
                totals[state] += count
                if self._study_labels:
                    trials.add_metric([r.name, state], count)
        if not self._study_labels:
            for state, count in totals.items():
                trials.add_metric([state], count)
        yield trials
        yield GaugeMetricFamily("archsampler_studies", "studies stored", value=len(records))


class ServerMetrics:
    """The metrics of one server and their HTTP endpoint.

    Args:
        list_studies: returns every study with its trial counts (`StudyService.list_studies`).
        cache_seconds: how long trial counts are reused between scrapes.
        study_labels: label metrics by study name; off: totals only, no model gauges.
        principals: when given, `/metrics` answers 401 without one of their bearer tokens.
    """

    def __init__(
        self,
        list_studies: Callable[[], list[StudyRecord]],
        cache_seconds: float = 5.0,
        *,
        study_labels: bool = True,
        principals: PrincipalTable | None = None,
    ) -> None:
        self.study_labels = study_labels
        self.principals = principals
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "archsampler_rpc_requests",
            "RPCs handled, by method and status code",
            ["rpc", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "archsampler_rpc_latency_seconds",
            "RPC handling time in seconds, by method",
            ["rpc"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_version = Gauge(
            "archsampler_model_version",
            "version of the predictor model in use, by study",
            ["study"],
            registry=self.registry,
        )
        self.training_seconds = Gauge(
            "archsampler_training_seconds",
            "seconds the last predictor training took, by study",
            ["study"],
            registry=self.registry,
        )
        self.export_refusals = Counter(
            "archsampler_model_export_refusals_total",
            "trained predictor exports refused by their ONNX parity check (the previous model "
            "stays in use), by study",
            ["study"] if study_labels else [],
            registry=self.registry,
        )
        self.registry.register(TrialCollector(list_studies, cache_seconds, study_labels))
        self._http: Any = None
        _LIVE.add(self)

    def observe_rpc(self, rpc: str, code: str, seconds: float) -> None:
        """Count one finished RPC and its latency."""
        self.requests.labels(rpc, code).inc()
        self.latency.labels(rpc).observe(seconds)

    def record_model(self, study: str, version: int, seconds: float) -> None:
        """A predictor model `version` was trained for `study` in `seconds`."""
        if self.study_labels:
            self.model_version.labels(study).set(version)
            self.training_seconds.labels(study).set(seconds)

    def record_refusal(self, study: str, reason: str) -> None:
        """A trained export of `study` failed its parity check and was not swapped in."""
        counter = self.export_refusals.labels(study) if self.study_labels else self.export_refusals
        counter.inc()

    def serve(self, host: str, port: int) -> int:
        """Start the `/metrics` HTTP endpoint (daemon thread); returns the bound port."""
        app = make_wsgi_app(self.registry)
        if self.principals is not None:
            app = _bearer_only(app, self.principals)
        server = serve_wsgi(app, host, port, "metrics")
        self._http = server
        return int(server.server_port)

    def close(self) -> None:
        """Stop the HTTP endpoint and stop receiving `record_model` updates."""
        _LIVE.discard(self)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


def _bearer_only(app: Any, principals: PrincipalTable) -> Any:
    """`app` behind `Authorization: Bearer <token>` of any principal; 401 otherwise."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        token = bearer_token([("authorization", environ.get("HTTP_AUTHORIZATION", ""))])
        if token is not None and principals.lookup(token) is not None:
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("WWW-Authenticate", 'Bearer realm="archsampler metrics"'),
            ],
        )
        return [b"send header 'Authorization: Bearer <token>' with a valid token\n"]

    return guarded


def record_model(study: str, version: int, seconds: float) -> None:
    """Report a newly trained predictor model to every server running in this process."""
    for metrics in list(_LIVE):
        metrics.record_model(study, version, seconds)


def record_refusal(study: str, reason: str) -> None:
    """Count a refused predictor export on every server running in this process."""
    for metrics in list(_LIVE):
        metrics.record_refusal(study, reason)


def _final_code(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))


class RpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Time unary RPCs, count them by final status code and log each at DEBUG.

    Streaming RPCs (health Watch, reflection) pass through unmeasured.
    """

    def __init__(self, metrics: ServerMetrics | None) -> None:
        self.metrics = metrics

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Wrap the unary-unary behaviour of the call's handler."""
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        behavior = handler.unary_unary
        rpc = rpc_label(handler_call_details.method)

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            code = "UNKNOWN"
            try:
                if inspect.iscoroutinefunction(behavior):
                    result = await behavior(request, context)
                else:  # as grpc.aio does: blocking handlers (health Check) off the loop
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(None, behavior, request, context)
                code = _final_code(context)
                return result
            except grpc.aio.AbortError:
                code = _final_code(context)
                raise
            except asyncio.CancelledError:
                remaining = context.time_remaining()
                expired = remaining is not None and remaining <= 0
                code = "DEADLINE_EXCEEDED" if expired else "CANCELLED"
                raise
            finally:
                seconds = time.perf_counter() - start
                if self.metrics is not None:
                    self.metrics.observe_rpc(rpc, code, seconds)
                log.debug(
                    "%s %s in %.1f ms",
                    rpc,
                    code,
                    seconds * 1000,
                    extra={"rpc": rpc, "code": code, "duration_ms": round(seconds * 1000, 3)},
                )

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
