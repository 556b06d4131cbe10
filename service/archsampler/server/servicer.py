"""The gRPC servicer: proto in → `StudyService` (in a worker thread) → proto out."""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from typing import Callable
from typing import TypeVar

import grpc

from archsampler.errors import InvalidArgumentError
from archsampler.errors import PermissionDeniedError
from archsampler.server import converters as conv
from archsampler.server.access import AUTH_OFF
from archsampler.server.access import CURRENT
from archsampler.server.access import Principal
from archsampler.server.access import authorize
from archsampler.server.access import may
from archsampler.server.status import handle_errors
from archsampler.server.status import status_for
from archsampler.study import StudyService
from archsampler_client._proto import archsampler_pb2 as pb
from archsampler_client._proto import archsampler_pb2_grpc as pb_grpc

T = TypeVar("T")
Ctx = grpc.aio.ServicerContext
PAGE_BYTES = 3 * 1024 * 1024  # a list page ends before this many bytes (or 3/4 of the limit)


def _page_token(after_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{after_id}".encode()).decode()


def _page_size(requested: int) -> int:
    size = requested or 100
    if not 1 <= size <= 1000:
        raise InvalidArgumentError(f"page_size must be in 1..1000, got {requested}")
    return size


def _fill_page(items: list[Any], size: int, budget: int) -> tuple[list[Any], bool]:
    """The longest prefix of `items` (protos) with at most `size` items and `budget` bytes
    (always at least one item), and whether more remain."""
    page: list[Any] = []
    used = 0
    for item in items[:size]:
        used += item.ByteSize() + 8  # the field tag and length of a repeated message
        if page and used > budget:
            break
        page.append(item)
    return page, len(items) > len(page)


def _trial_study(report_study: str, study: str) -> str:
    """The study a report names: required, and the proposing study in a loop step."""
    if not report_study:
        raise InvalidArgumentError("study is required: name the study of the trial")
    if study and report_study != study:
        raise InvalidArgumentError(
            f"report.study {report_study[:128]!r} differs from propose.study {study[:128]!r}"
        )
    return report_study


def _parse_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "after" and value.isdigit() and len(value) <= 18:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidArgumentError("page_token is not one this server returned")


class ArchSamplerServicer(pb_grpc.ArchSamplerServicer):
    """Implements `archsampler.v1.ArchSampler` over an injected `StudyService`."""

    def __init__(
        self,
        service: StudyService,
        executor: ThreadPoolExecutor,
        observe: Callable[[str, str, float], None] | None = None,
        max_message_bytes: int = 4 * 1024 * 1024,
        anonymous: Principal | None = AUTH_OFF,
    ) -> None:
        self.service = service
        self.anonymous = anonymous  # who a call without a principal is (None: refused)
        self.executor = executor
        self.page_bytes = min(PAGE_BYTES, max_message_bytes * 3 // 4)
        self.observe = observe  # (rpc, code, seconds) of each session call, for metrics
        self._session_calls = {
            "propose": self._propose,
            "report": self._report,
            "heartbeat": self._heartbeat,
            "report_and_propose": self._report_and_propose,
        }

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

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
        config = conv.config_from_proto(request.config)
        record, created = await self._run(
            self.service.create_study,
            request.name,
            config,
            principal.namespace,
            functools.partial(authorize, principal, "CreateStudy", study=request.name),
        )
        return pb.CreateStudyResponse(study=conv.study_to_proto(record), created=created)

    @handle_errors
    async def GetStudy(self, request: pb.GetStudyRequest, context: Ctx) -> Any:
        await self._allow("GetStudy", request.name)
        record = await self._run(self.service.get_study, request.name)
        return pb.GetStudyResponse(study=conv.study_to_proto(record))

    @handle_errors
    async def ListStudies(self, request: pb.ListStudiesRequest, context: Ctx) -> Any:
        principal = await self._allow("ListStudies")
        size = _page_size(request.page_size)
        after = _parse_page_token(request.page_token)
        records = await self._run(
            self.service.list_studies,
            namespace=None if principal.is_admin else principal.namespace,
            after_id=after,
            limit=size + 1,
        )
        studies, more = _fill_page(
            [conv.study_to_proto(r) for r in records], size, self.page_bytes
        )
        last = records[len(studies) - 1].id if studies else after
        return pb.ListStudiesResponse(
            studies=studies, next_page_token=_page_token(last) if more else ""
        )

    @handle_errors
    async def DeleteStudy(self, request: pb.DeleteStudyRequest, context: Ctx) -> Any:
        principal = await self._allow("DeleteStudy", request.name)
        check = functools.partial(authorize, principal, "DeleteStudy", study=request.name)
        await self._run(self.service.delete_study, request.name, check)  # checked again, locked
        return pb.DeleteStudyResponse()

    async def _propose(self, request: pb.ProposeRequest) -> pb.ProposeResponse:
        await self._allow("Propose", request.study)
        trials = await self.service.propose(
            request.study,
            request.count,
            request.client_id,
            request.request_id,
            asyncio.get_running_loop(),
        )
        return pb.ProposeResponse(trials=[conv.trial_to_proto(t) for t in trials])

    async def _report(self, request: pb.ReportRequest) -> pb.ReportResponse:
        outcome = conv.outcome_from_proto(request)
        study = _trial_study(request.study, "")
        await self._allow("Report", study)
        trial = await self.service.report(
            study, request.trial_id, outcome, asyncio.get_running_loop()
        )
        return pb.ReportResponse(trial=conv.trial_to_proto(trial))

    async def _report_and_propose(
        self, request: pb.ReportAndProposeRequest
    ) -> pb.ReportAndProposeResponse:
        """Report, then propose once the report committed: a trainer's step in one message."""
        report, propose = request.report, request.propose
        _trial_study(report.study or propose.study, propose.study)  # empty: the proposing one
        await self._allow("ReportAndPropose", propose.study)
        reported, trials = await self.service.report_and_propose(
            report.trial_id,
            conv.outcome_from_proto(report),
            propose.study,
            propose.count,
            propose.client_id,
            propose.request_id,
            asyncio.get_running_loop(),
        )
        return pb.ReportAndProposeResponse(
            reported=conv.trial_to_proto(reported),
            trials=[conv.trial_to_proto(t) for t in trials],
        )

    async def _heartbeat(self, request: pb.HeartbeatRequest) -> pb.HeartbeatResponse:
        study = _trial_study(request.study, "")
        await self._allow("Heartbeat", study)
        trial = await self._run(self.service.heartbeat, study, request.trial_id)
        return pb.HeartbeatResponse(trial=conv.trial_to_proto(trial))

    @handle_errors
    async def Propose(self, request: pb.ProposeRequest, context: Ctx) -> Any:
        return await self._propose(request)

    @handle_errors
    async def Report(self, request: pb.ReportRequest, context: Ctx) -> Any:
        return await self._report(request)

    @handle_errors
    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Ctx) -> Any:
        return await self._heartbeat(request)

    async def Session(
        self, requests: AsyncIterator[pb.SessionRequest], context: Ctx
    ) -> AsyncIterator[pb.SessionResponse]:
        """Answer each streamed call in order; an error answers that call only."""
        async for request in requests:
            kind = request.WhichOneof("call")
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                if kind not in self._session_calls:
                    raise InvalidArgumentError(
                        "a session request needs one of propose, report, heartbeat, "
                        "report_and_propose"
                    )
                answer = await self._session_calls[kind](getattr(request, kind))
                response = pb.SessionResponse(**{kind: answer})
            except Exception as exc:  # noqa: BLE001 - mapped like every unary error
                code, message = status_for(exc, f"Session.{kind}")
                response = pb.SessionResponse(
                    error=pb.SessionError(code=code.value[0], message=message)
                )
            if self.observe is not None:
                self.observe(f"Session.{kind}", code.name, time.perf_counter() - start)
            yield response

    @handle_errors
    async def Tell(self, request: pb.TellRequest, context: Ctx) -> Any:
        await self._allow("Tell", request.study)
        outcome = conv.outcome_from_proto(request)
        params = conv.params_from_proto(request.architecture.params)
        if len(request.architecture.text) > conv.MAX_TEXT:
            raise InvalidArgumentError(f"architecture text is longer than {conv.MAX_TEXT}")
        trial = await self._run(
            self.service.tell, request.study, request.architecture.text, params, outcome
        )
        return pb.TellResponse(trial=conv.trial_to_proto(trial))

    @handle_errors
    async def ListTrials(self, request: pb.ListTrialsRequest, context: Ctx) -> Any:
        await self._allow("ListTrials", request.study)
        size = _page_size(request.page_size)
        after = _parse_page_token(request.page_token)
        states = conv.states_from_proto(request.states)
        trials = await self._run(
            self.service.list_trials,
            request.study,
            states=states,
            after_id=after,
            limit=size + 1,
        )
        page, more = _fill_page([conv.trial_to_proto(t) for t in trials], size, self.page_bytes)
        return pb.ListTrialsResponse(
            trials=page, next_page_token=_page_token(page[-1].id) if more else ""
        )

    @handle_errors
    async def GetBest(self, request: pb.GetBestRequest, context: Ctx) -> Any:
        await self._allow("GetBest", request.study)
        trial = await self._run(self.service.best, request.study)
        return pb.GetBestResponse(trial=conv.trial_to_proto(trial))

    @handle_errors
    async def Predict(self, request: pb.PredictRequest, context: Ctx) -> Any:
        await self._allow("Predict", request.study)
        archs = [
            (a.text[: conv.MAX_TEXT + 1], conv.params_from_proto(a.params))
            for a in request.architectures
        ]
        if any(len(text) > conv.MAX_TEXT for text, _ in archs):
            raise InvalidArgumentError(f"architecture text is longer than {conv.MAX_TEXT}")
        values, version = await self._run(self.service.predict, request.study, archs)
        return pb.PredictResponse(values=values, model_version=f"v{version}")
