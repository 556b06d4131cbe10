"""The gRPC servicer: auth, metrics and sessions around `rpc` (proto in → `StudyService`
(in a worker thread) → proto out), the request handling it shares with the `Engine`."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from typing import Callable
from typing import TypeVar

import grpc

from archsampler import rpc
from archsampler.errors import ExhaustedError
from archsampler.errors import InvalidArgumentError
from archsampler.errors import PermissionDeniedError
from archsampler.priority import SHORT
from archsampler.server.access import AUTH_OFF
from archsampler.server.access import CURRENT
from archsampler.server.access import Principal
from archsampler.server.access import authorize
from archsampler.server.access import may
from archsampler.server.status import handle_errors
from archsampler.server.status import status_for
from archsampler.study import StudyService
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc

T = TypeVar("T")
Ctx = grpc.aio.ServicerContext
OFFLOAD_TRIALS = 32
"""An answer with more trials is built in a worker thread: a Propose(1000)'s answer takes
7-20 ms of Python, which on the event loop would delay every other call (other studies'
Reports included)."""


async def _refused_late(study: str, waiter: Any) -> Any:
    """`waiter`'s result (its error without a reference cycle: pass the call's future
    straight in, never from a local); a refusal for an exhausted space is answered after
    `SHORT.refusal_pause(study)`, so a client retrying it at once cannot flood the server
    while other studies report."""
    try:
        return await waiter
    except ExhaustedError:
        pause = SHORT.refusal_pause(study)
        if pause:
            await asyncio.sleep(pause)
        raise
    finally:
        del waiter  # the error's traceback holds this frame: it must not hold the future


class ArchSamplerServicer(pb_grpc.ArchSamplerServicer):
    """Implements `archsampler.v1.ArchSampler` over an injected `StudyService`."""

    def __init__(
        self,
        service: StudyService,
        executor: ThreadPoolExecutor,
        observe: Callable[[str, str, float], None] | None = None,
        max_message_bytes: int = 4 * 1024 * 1024,
        anonymous: Principal | None = AUTH_OFF,
        max_sessions: int = 4096,
    ) -> None:
        self.service = service
        self.max_sessions = max_sessions  # open Session streams per principal
        self._sessions: Counter[str] = Counter()  # principal name -> open streams (loop only)
        self.anonymous = anonymous  # who a call without a principal is (None: refused)
        self.executor = executor
        self.page_bytes = min(rpc.PAGE_BYTES, max_message_bytes * 3 // 4)
        self.observe = observe  # (rpc, code, seconds) of each session call, for metrics
        self._session_calls: dict[str, Callable[[Any], Any]] = {
            "propose": functools.partial(self._propose, session=True),
            "report": self._report,
            "heartbeat": self._heartbeat,
            "report_and_propose": functools.partial(self._report_and_propose, session=True),
            "report_intermediate": self._report_intermediate,
            "should_stop": self._should_stop,
        }

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    async def _answer(self, build: Callable[[Any], Any], value: Any, size: int, kind: str) -> Any:
        """`build(value)`, wrapped in a `SessionResponse` under `kind` when `kind` is set;
        built in a worker thread when it holds more than `OFFLOAD_TRIALS` trials."""

        def make() -> Any:
            msg = build(value)
            return pb.SessionResponse(**{kind: msg}) if kind else msg

        return make() if size <= OFFLOAD_TRIALS else await self._run(make)

    async def _allow(self, action: str, study: str | None = None) -> Principal:
        """The caller's principal, if it may call `action` (on `study`); else raise
        PermissionDeniedError. Admins need no lookup; others' namespaces come from a cache."""
        principal = CURRENT.get() or self.anonymous
        if principal is None:
            raise PermissionDeniedError("this call carries no principal")
        may(principal, action)
        if study is not None and not principal.is_admin:
            namespace = self.service.cached_namespace(study)
            if namespace is None:
                namespace = await self._run(self.service.namespace_of, study)
            authorize(principal, action, namespace, study)
        return principal

    @handle_errors
    async def CreateStudy(self, request: pb.CreateStudyRequest, context: Ctx) -> Any:
        principal = await self._allow("CreateStudy")
        if request.seed_from:  # a transfer: the caller must be allowed to read the source
            await self._allow("ListTrials", request.seed_from)
        return await self._run(
            rpc.create_study,
            self.service,
            request,
            principal.namespace,
            functools.partial(authorize, principal, "CreateStudy", study=request.name),
        )

    @handle_errors
    async def GetStudy(self, request: pb.GetStudyRequest, context: Ctx) -> Any:
        await self._allow("GetStudy", request.name)
        return await self._run(rpc.get_study, self.service, request)

    @handle_errors
    async def ListStudies(self, request: pb.ListStudiesRequest, context: Ctx) -> Any:
        principal = await self._allow("ListStudies")
        namespace = None if principal.is_admin else principal.namespace
        return await self._run(rpc.list_studies, self.service, request, namespace, self.page_bytes)

    @handle_errors
    async def DeleteStudy(self, request: pb.DeleteStudyRequest, context: Ctx) -> Any:
        principal = await self._allow("DeleteStudy", request.name)
        check = functools.partial(authorize, principal, "DeleteStudy", study=request.name)
        return await self._run(rpc.delete_study, self.service, request, check)  # locked check

    async def _propose(self, request: pb.ProposeRequest, session: bool = False) -> Any:
        await self._allow("Propose", request.study)
        loop = asyncio.get_running_loop()
        trials = await _refused_late(request.study, rpc.propose(self.service, request, loop))
        kind = "propose" if session else ""
        return await self._answer(rpc.propose_answer, trials, len(trials), kind)

    async def _report(self, request: pb.ReportRequest) -> pb.ReportResponse:
        with SHORT.running():
            args = rpc.report_args(request)
            await self._allow("Report", args.study)
            SHORT.stamp(args.study)
            trial = await rpc.report(self.service, request, args, asyncio.get_running_loop())
            return rpc.report_answer(trial)

    async def _report_and_propose(
        self, request: pb.ReportAndProposeRequest, session: bool = False
    ) -> Any:
        """Report, then propose once the report committed: a trainer's step in one message."""
        study = rpc.step_study(request)
        await self._allow("ReportAndPropose", study)
        loop = asyncio.get_running_loop()
        result = await _refused_late(study, rpc.report_and_propose(self.service, request, loop))
        kind = "report_and_propose" if session else ""
        return await self._answer(rpc.report_and_propose_answer, result, len(result[1]), kind)

    async def _heartbeat(self, request: pb.HeartbeatRequest) -> pb.HeartbeatResponse:
        with SHORT.running():
            study = rpc.heartbeat_study(request)
            await self._allow("Heartbeat", study)
            SHORT.stamp(study)
            return await self._run(rpc.heartbeat, self.service, request)

    @handle_errors
    async def Propose(self, request: pb.ProposeRequest, context: Ctx) -> Any:
        return await self._propose(request)

    @handle_errors
    async def Report(self, request: pb.ReportRequest, context: Ctx) -> Any:
        return await self._report(request)

    @handle_errors
    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Ctx) -> Any:
        return await self._heartbeat(request)

    @handle_errors
    async def Release(self, request: pb.ReleaseRequest, context: Ctx) -> Any:
        await self._allow("Release", rpc.release_study(request))
        return await self._run(rpc.release, self.service, request)

    async def Session(
        self, requests: AsyncIterator[pb.SessionRequest], context: Ctx
    ) -> AsyncIterator[pb.SessionResponse]:
        """Answer each streamed call in order; an error answers that call only. At most
        `max_sessions` streams per principal are open at once (RESOURCE_EXHAUSTED beyond),
        so no caller can hold the server's memory with idle streams."""
        principal = CURRENT.get() or self.anonymous
        holder = "" if principal is None else principal.name
        if self._sessions[holder] >= self.max_sessions:
            context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
            context.set_details(
                f"{self.max_sessions} Session streams are open for principal {holder!r}, "
                "the limit (ARCHSAMPLER_MAX_SESSIONS): close one first"
            )
            return
        self._sessions[holder] += 1
        try:
            async for request in requests:
                kind = request.WhichOneof("call")
                start = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    if kind not in self._session_calls:
                        raise InvalidArgumentError(
                            "a session request needs one of propose, report, heartbeat, "
                            "report_and_propose, report_intermediate, should_stop"
                        )
                    answer = await self._session_calls[kind](getattr(request, kind))
                    if isinstance(answer, pb.SessionResponse):
                        response = answer  # a large answer, built off the event loop
                    else:
                        response = pb.SessionResponse(**{kind: answer})
                except Exception as exc:  # noqa: BLE001 - mapped like every unary error
                    code, message = status_for(exc, f"Session.{kind}")
                    response = pb.SessionResponse(
                        error=pb.SessionError(code=code.value[0], message=message)
                    )
                if self.observe is not None:
                    self.observe(f"Session.{kind}", code.name, time.perf_counter() - start)
                yield response
        finally:
            self._sessions[holder] -= 1
            if not self._sessions[holder]:
                del self._sessions[holder]

    async def _report_intermediate(
        self, request: pb.ReportIntermediateRequest
    ) -> pb.ReportIntermediateResponse:
        await self._allow("ReportIntermediate", rpc.trial_study(request.study, ""))
        return await self._run(rpc.report_intermediate, self.service, request)

    async def _should_stop(self, request: pb.ShouldStopRequest) -> pb.ShouldStopResponse:
        await self._allow("ShouldStop", rpc.trial_study(request.study, ""))
        return await self._run(rpc.should_stop, self.service, request)

    @handle_errors
    async def ReportIntermediate(self, request: pb.ReportIntermediateRequest, context: Ctx) -> Any:
        return await self._report_intermediate(request)

    @handle_errors
    async def ShouldStop(self, request: pb.ShouldStopRequest, context: Ctx) -> Any:
        return await self._should_stop(request)

    @handle_errors
    async def ListIntermediateValues(
        self, request: pb.ListIntermediateValuesRequest, context: Ctx
    ) -> Any:
        await self._allow("ListIntermediateValues", rpc.trial_study(request.study, ""))
        return await self._run(rpc.list_intermediate_values, self.service, request)

    @handle_errors
    async def Tell(self, request: pb.TellRequest, context: Ctx) -> Any:
        await self._allow("Tell", request.study)
        return await self._run(rpc.tell, self.service, request)

    @handle_errors
    async def Enqueue(self, request: pb.EnqueueRequest, context: Ctx) -> Any:
        await self._allow("Enqueue", request.study)
        return await self._run(rpc.enqueue, self.service, request)

    @handle_errors
    async def TellMany(self, request: pb.TellManyRequest, context: Ctx) -> Any:
        await self._allow("TellMany", request.study)  # a bulk Tell: the same roles
        return await self._run(rpc.tell_many, self.service, request)

    @handle_errors
    async def ListTrials(self, request: pb.ListTrialsRequest, context: Ctx) -> Any:
        await self._allow("ListTrials", request.study)
        return await self._run(rpc.list_trials, self.service, request, self.page_bytes)

    @handle_errors
    async def GetBest(self, request: pb.GetBestRequest, context: Ctx) -> Any:
        await self._allow("GetBest", request.study)
        return await self._run(rpc.get_best, self.service, request)

    @handle_errors
    async def Predict(self, request: pb.PredictRequest, context: Ctx) -> Any:
        await self._allow("Predict", request.study)
        return await self._run(rpc.predict, self.service, request)
