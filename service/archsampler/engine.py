"""`Engine`: the archsampler service in this process, with the SDK's study API.

    from archsampler import Engine

    with Engine("studies.db") as engine:  # or a SQLAlchemy URL (postgresql+psycopg://...)
        study = engine.create_study("demo", space="nb201", strategy="lanas")
        (trial,) = study.propose()
        study.report(trial.id, value=0.93)

The same studies, strategies, predictor and storage as a server, without one: a study
handle is the SDK's own (`propose`, `report`, `tell`, `tell_many`, `heartbeat`,
`keep_alive`, `release`, `best`, `trials`, `info`, `delete`, `predict`, `session`, plus
`report_and_propose`), results are the SDK's
models (`archsampler_client.models.Trial` / `StudyInfo`) and errors the SDK's classes
(`archsampler_client.errors`) with the status code a server answers. Each call hands its
request message to the request handling the gRPC servicer uses (`archsampler.rpc`), so
validation, limits and messages are the server's; Propose and Report return after commit,
as on a server. Expired leases are swept as a server sweeps them.

An Engine is thread-safe; several Engines (processes) on one database behave as server
replicas. Pickled, it travels as its arguments (Ray Tune pickles and copies its searcher):
in a process that has an open Engine with the same arguments it is that Engine, elsewhere
a new one that opens the database on first use.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import weakref
from pathlib import Path
from typing import Any
from typing import Callable
from typing import TypeVar

import grpc

from archsampler import rpc
from archsampler.assembly import build_service
from archsampler.config import Settings
from archsampler.server.status import status_for
from archsampler.storage import database_url
from archsampler.study import StudyService
from archsampler_client import _retry
from archsampler_client.client import StudiesAPI
from archsampler_client.client import Study
from archsampler_client.errors import ArchSamplerError
from archsampler_client.errors import error_for
from archsampler_client.models import Trial
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.session import SessionOps

__all__ = ["Engine", "EngineSession", "EngineStudy"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Call = Callable[["Engine", StudyService, Any], Any]


class EngineStudy(Study):
    """A study handle on an `Engine`: the SDK's `Study`, plus `report_and_propose`."""

    def report_and_propose(
        self,
        trial_id: int,
        value: float | None = None,
        *,
        failed: str | None = None,
        infeasible: str | None = None,
        checkpoint_uri: str = "",
        metadata: dict[str, str] | None = None,
        stopped: str | bool | None = None,
        retryable: bool = False,
        values: dict[str, float] | None = None,
        count: int = 1,
        client_id: str = "",
        request_id: str | None = None,
    ) -> tuple[Trial, list[Trial]]:
        """A trainer's step: report `trial_id` (any outcome `report` takes), then propose
        `count` new trials (they learn from the report). Returns `(reported trial, new
        trials)`; as `Session`'s."""
        with self.session() as session:
            return session.report_and_propose(
                trial_id,
                value,
                failed=failed,
                infeasible=infeasible,
                checkpoint_uri=checkpoint_uri,
                metadata=metadata,
                stopped=stopped,
                retryable=retryable,
                values=values,
                count=count,
                client_id=client_id,
                request_id=request_id,
            )


_SESSION_RPC = {
    "propose": "Propose",
    "report": "Report",
    "heartbeat": "Heartbeat",
    "report_and_propose": "ReportAndPropose",
}


class EngineSession(SessionOps):
    """`study.session()` on an Engine: the session calls, each made in-process (there is
    no stream to keep open). Same methods and answers as the SDK's `Session`."""

    def _call(self, msg: pb.SessionRequest, kind: str, parse: Callable[[Any], T]) -> T:
        return self.client._invoke(_SESSION_RPC[kind], getattr(msg, kind), parse)

    def close(self) -> None:
        """Nothing to release (kept for the `Session` API)."""

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- each RPC: the servicer's request handling, waited on in this thread ----------------
def _propose(engine: Engine, service: StudyService, request: pb.ProposeRequest) -> Any:
    return rpc.propose_answer(engine._wait(rpc.propose(service, request)))


def _report(engine: Engine, service: StudyService, request: pb.ReportRequest) -> Any:
    args = rpc.report_args(request)
    return rpc.report_answer(engine._wait(rpc.report(service, request, args)))


def _step(engine: Engine, service: StudyService, request: pb.ReportAndProposeRequest) -> Any:
    rpc.step_study(request)
    return rpc.report_and_propose_answer(engine._wait(rpc.report_and_propose(service, request)))


_CALLS: dict[str, Call] = {
    "CreateStudy": lambda e, s, r: rpc.create_study(s, r),
    "GetStudy": lambda e, s, r: rpc.get_study(s, r),
    "ListStudies": lambda e, s, r: rpc.list_studies(s, r),  # every namespace: no auth here
    "DeleteStudy": lambda e, s, r: rpc.delete_study(s, r),
    "Propose": _propose,
    "Report": _report,
    "ReportAndPropose": _step,
    "Heartbeat": lambda e, s, r: rpc.heartbeat(s, r),
    "Release": lambda e, s, r: rpc.release(s, r),
    "ReportIntermediate": lambda e, s, r: rpc.report_intermediate(s, r),
    "ShouldStop": lambda e, s, r: rpc.should_stop(s, r),
    "Enqueue": lambda e, s, r: rpc.enqueue(s, r),
    "ListIntermediateValues": lambda e, s, r: rpc.list_intermediate_values(s, r),
    "Tell": lambda e, s, r: rpc.tell(s, r),
    "TellMany": lambda e, s, r: rpc.tell_many(s, r),
    "ListTrials": lambda e, s, r: rpc.list_trials(s, r),
    "GetBest": lambda e, s, r: rpc.get_best(s, r),
    "Predict": lambda e, s, r: rpc.predict(s, r),
}


class Engine(StudiesAPI):
    """The archsampler service in this process (see the module docstring).

    Args:
        db: SQLite file path, or a SQLAlchemy URL (`sqlite:///...`,
            `postgresql+psycopg://...`); created (schema included) when new.
        timeout: seconds a call waits for its commit before DEADLINE_EXCEEDED (the call
            stays queued: a retried Propose with the same request id gets its trials).
        retries: how many times a call that meets UNAVAILABLE (a locked database) is
            retried, with the SDK client's backoff.
        **settings: any server setting (`archsampler.config.Settings`: `default_strategy`,
            `lease_seconds`, `lease_sweep_seconds`, `model_min_trials`, `models_dir`, …);
            unset ones come from `ARCHSAMPLER_*` variables, as for a server.

    Raises:
        pydantic.ValidationError: a setting out of its bounds.
        archsampler.errors.StorageError: the database cannot be opened.
    """

    _session_type = EngineSession
    _study_type = EngineStudy

    def __init__(
        self,
        db: str | Path = "archsampler.db",
        *,
        timeout: float = 30.0,
        retries: int = 8,
        **settings: Any,
    ) -> None:
        url = database_url(str(db))  # absolute: a pickled copy opens the same file anywhere
        self.settings = Settings(db=url, **settings)
        self.timeout = timeout
        self.retries = retries
        self._args = (url, timeout, retries, dict(settings))
        self._lock = threading.Lock()
        self._service: StudyService | None = None
        self._closed = False
        self._stop = threading.Event()
        self._open()
        _LIVE[_key(self._args)] = self

    # -- lifecycle ----------------------------------------------------------------------
    def _open(self) -> StudyService:
        service = self._service
        if service is not None:
            return service
        with self._lock:
            if self._closed:
                raise error_for(grpc.StatusCode.FAILED_PRECONDITION, "this Engine is closed")
            if self._service is None:
                self._service = build_service(self.settings)
                threading.Thread(
                    target=_sweep,
                    args=(self._service, self._stop, self.settings.lease_sweep_seconds),
                    name="archsampler-engine-leases",
                    daemon=True,
                ).start()
            return self._service

    def close(self) -> None:
        """Answer what is queued, stop the writer and training, close the database. Calls
        after it raise FAILED_PRECONDITION. Idempotent."""
        with self._lock:
            self._closed = True
            service, self._service = self._service, None
        self._stop.set()
        if service is not None:
            try:
                service.close()
            finally:
                service.storage.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Engine({self._args[0]!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its arguments: unpickled in a process where an open Engine has the
        same arguments, it is that Engine; elsewhere a new one, opened on first use."""
        return (_reopen, (self._args,))

    @classmethod
    def _unopened(cls, args: tuple[str, float, int, dict[str, Any]]) -> Engine:
        engine = cls.__new__(cls)
        db, timeout, retries, settings = args
        engine.settings = Settings(db=db, **settings)
        engine.timeout, engine.retries, engine._args = timeout, retries, args
        engine._lock = threading.Lock()
        engine._service = None
        engine._closed = False
        engine._stop = threading.Event()
        _LIVE[_key(args)] = engine
        return engine

    # -- the SDK client's surface: create_study, study, studies_page, list_studies ----
    def _invoke(self, method: str, request: Any, parse: Callable[[Any], T]) -> T:
        """Run one RPC's request handling here; domain errors become the SDK's errors with
        the server's code and message (UNAVAILABLE retried as the SDK client retries)."""
        call = _CALLS.get(method)
        if call is None:
            raise error_for(grpc.StatusCode.UNIMPLEMENTED, f"an Engine does not serve {method}")
        attempt = 0
        while True:
            service = self._open()
            try:
                response = call(self, service, request)
            except ArchSamplerError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped exactly as the servicer maps
                code, message = status_for(exc, method)
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    time.sleep(_retry.delay(attempt))
                    attempt += 1
                    continue
                raise error_for(code, message) from None
            return parse(response)

    def _wait(self, future: Any) -> Any:
        """The result of a queued call (after its commit), within `timeout`."""
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            raise error_for(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no commit within {self.timeout} s; the call stays queued",
            ) from None
        finally:
            del future  # an error's traceback holds this frame: it must not hold the future


# Open Engines of this process by their arguments: what an unpickled copy resolves to.
_LIVE: weakref.WeakValueDictionary[str, Engine] = weakref.WeakValueDictionary()


def _key(args: tuple[str, float, int, dict[str, Any]]) -> str:
    return repr((args[0], args[1], args[2], sorted(args[3].items())))


def _reopen(args: tuple[str, float, int, dict[str, Any]]) -> Engine:
    """The open Engine of this process with these arguments, else a new one (unopened)."""
    live = _LIVE.get(_key(args))
    if live is not None and not live._closed:
        return live
    return Engine._unopened(args)


def _sweep(service: StudyService, stop: threading.Event, every: float) -> None:
    """Mark expired leases STALE every `every` seconds until `stop` (as a server does)."""
    while not stop.wait(every):
        try:
            expired = service.expire_leases()
            if expired:
                log.info("%d trial lease(s) expired: now STALE", expired)
        except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
            if stop.is_set():
                return
            log.exception("lease sweep failed")
