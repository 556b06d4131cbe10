"""The request handling of every study RPC, written once: proto in → `StudyService` → proto out.

Two thin faces call these functions: the gRPC servicer (`server/servicer.py`: auth, metrics,
the event loop, sessions) and the in-process `Engine` (`engine.py`). What a function here
validates, converts and answers is therefore the same on both: same checks, same messages,
same results.

- Blocking RPCs (`create_study`, `get_study`, `list_studies`, `delete_study`, `heartbeat`,
  `tell`, `list_trials`, `get_best`, `predict`) take the request and return the response;
  the servicer runs them in a worker thread.
- Queued RPCs (`propose`, `report`, `report_and_propose`) validate the request, queue it
  and return a `Waiter` (on `loop` when given) that resolves after commit; the matching
  `*_answer` function turns its result into the response.
- What the servicer checks before its authorisation (the study a trial call names) is split
  out (`report_args`, `step_study`, `heartbeat_study`), so a request gets the same error
  whoever sends it.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from typing import Callable
from typing import NamedTuple

from archsampler.errors import InvalidArgumentError
from archsampler.errors import NotFoundError
from archsampler.futures import Waiter
from archsampler.priority import bulk_of
from archsampler.priority import stepping
from archsampler.server import converters as conv
from archsampler.storage.base import DEFAULT_NAMESPACE
from archsampler.study import StudyService
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler_client.proto import archsampler_pb2 as pb

PAGE_BYTES = 3 * 1024 * 1024  # a list page ends before this many bytes
MAX_PAGE = 1000  # items in one list page
Loop = asyncio.AbstractEventLoop | None


# -- paging -----------------------------------------------------------------------------
def page_token(after_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{after_id}".encode()).decode()


def parse_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "after" and value.isdigit() and len(value) <= 18:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidArgumentError("page_token is not one this server returned")


def page_size(requested: int) -> int:
    size = requested or 100
    if not 1 <= size <= MAX_PAGE:
        raise InvalidArgumentError(f"page_size must be in 1..{MAX_PAGE}, got {requested}")
    return size


def fill_page(items: list[Any], size: int, budget: int) -> tuple[list[Any], bool]:
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


# -- studies ----------------------------------------------------------------------------
def create_study(
    service: StudyService,
    request: pb.CreateStudyRequest,
    namespace: str = DEFAULT_NAMESPACE,
    check_existing: Callable[[str], None] | None = None,
) -> pb.CreateStudyResponse:
    config = conv.config_from_proto(request.config)
    record, created = service.create_study(
        request.name, config, namespace, check_existing, seed_from=request.seed_from
    )
    return pb.CreateStudyResponse(study=conv.study_to_proto(record), created=created)


def get_study(service: StudyService, request: pb.GetStudyRequest) -> pb.GetStudyResponse:
    return pb.GetStudyResponse(study=conv.study_to_proto(service.get_study(request.name)))


def list_studies(
    service: StudyService,
    request: pb.ListStudiesRequest,
    namespace: str | None = None,
    page_bytes: int = PAGE_BYTES,
) -> pb.ListStudiesResponse:
    """One page of the studies of `namespace` (None: every namespace)."""
    size = page_size(request.page_size)
    after = parse_page_token(request.page_token)
    records = service.list_studies(namespace=namespace, after_id=after, limit=size + 1)
    studies, more = fill_page([conv.study_to_proto(r) for r in records], size, page_bytes)
    last = records[len(studies) - 1].id if studies else after
    return pb.ListStudiesResponse(
        studies=studies, next_page_token=page_token(last) if more else ""
    )


def delete_study(
    service: StudyService,
    request: pb.DeleteStudyRequest,
    check_existing: Callable[[str], None] | None = None,
) -> pb.DeleteStudyResponse:
    service.delete_study(request.name, check_existing)
    return pb.DeleteStudyResponse()


# -- trials: queued ---------------------------------------------------------------------
def trial_study(report_study: str, study: str) -> str:
    """The study a report names: required, and the proposing study in a loop step."""
    if not report_study:
        raise InvalidArgumentError("study is required: name the study of the trial")
    if study and report_study != study:
        raise InvalidArgumentError(
            f"report.study {report_study[:128]!r} differs from propose.study {study[:128]!r}"
        )
    return report_study


def propose(service: StudyService, request: pb.ProposeRequest, loop: Loop = None) -> Waiter:
    """Queue a Propose; the waiter resolves to the new trials after commit."""
    return service.propose(
        request.study, request.count, request.client_id, request.request_id, loop
    )


def propose_answer(trials: list[Trial]) -> pb.ProposeResponse:
    answer = pb.ProposeResponse()
    add_trials(answer.trials, trials)
    return answer


def add_trials(field: Any, trials: list[Trial]) -> None:
    """Append the trials' messages (one study's) to a repeated `Trial` field. A large
    Propose's go in slices that step aside for short calls: one constructor call taking
    1,000 messages copies them all while holding the interpreter lock (2-6 ms)."""
    bulk = bulk_of(trials[0].study_name, [len(trials)]) if trials else None
    for t in stepping(trials, bulk):
        field.append(conv.trial_to_proto(t))


class ReportArgs(NamedTuple):
    """A Report's study and outcome, validated (outcome first, then the study)."""

    study: str
    outcome: Outcome


def report_args(request: pb.ReportRequest) -> ReportArgs:
    outcome = conv.outcome_from_proto(request)
    return ReportArgs(trial_study(request.study, ""), outcome)


def report(
    service: StudyService, request: pb.ReportRequest, args: ReportArgs, loop: Loop = None
) -> Waiter:
    """Queue a Report (`args` from `report_args(request)`); resolves to the trial."""
    return service.report(args.study, request.trial_id, args.outcome, loop)


def report_answer(trial: Trial) -> pb.ReportResponse:
    return pb.ReportResponse(trial=conv.trial_to_proto(trial))


def step_study(request: pb.ReportAndProposeRequest) -> str:
    """The study of a loop step: the report's study defaults to the proposing one."""
    report, propose = request.report, request.propose
    trial_study(report.study or propose.study, propose.study)
    return propose.study


def report_and_propose(
    service: StudyService, request: pb.ReportAndProposeRequest, loop: Loop = None
) -> Waiter:
    """Queue a loop step (after `step_study`): report, then propose once the report
    committed; resolves to `(reported trial, new trials)`."""
    report, propose = request.report, request.propose
    return service.report_and_propose(
        report.trial_id,
        conv.outcome_from_proto(report),
        propose.study,
        propose.count,
        propose.client_id,
        propose.request_id,
        loop,
    )


def report_and_propose_answer(result: tuple[Trial, list[Trial]]) -> pb.ReportAndProposeResponse:
    reported, trials = result
    answer = pb.ReportAndProposeResponse(reported=conv.trial_to_proto(reported))
    add_trials(answer.trials, trials)
    return answer


# -- trials: blocking -------------------------------------------------------------------
def heartbeat_study(request: pb.HeartbeatRequest) -> str:
    return trial_study(request.study, "")


def heartbeat(service: StudyService, request: pb.HeartbeatRequest) -> pb.HeartbeatResponse:
    trial = service.heartbeat(heartbeat_study(request), request.trial_id)
    return pb.HeartbeatResponse(
        trial=conv.trial_to_proto(trial), lease_seconds=service.lease_seconds
    )


def report_intermediate(
    service: StudyService, request: pb.ReportIntermediateRequest
) -> pb.ReportIntermediateResponse:
    study = trial_study(request.study, "")
    trial, decision = service.report_intermediate(
        study, request.trial_id, request.step, request.value
    )
    return pb.ReportIntermediateResponse(
        should_stop=decision.stop, reason=decision.reason, trial=conv.trial_to_proto(trial)
    )


def should_stop(service: StudyService, request: pb.ShouldStopRequest) -> pb.ShouldStopResponse:
    decision = service.should_stop(trial_study(request.study, ""), request.trial_id)
    return pb.ShouldStopResponse(should_stop=decision.stop, reason=decision.reason)


def list_intermediate_values(
    service: StudyService, request: pb.ListIntermediateValuesRequest
) -> pb.ListIntermediateValuesResponse:
    values = service.intermediate_values(trial_study(request.study, ""), request.trial_id)
    return pb.ListIntermediateValuesResponse(
        values=[pb.IntermediateValue(step=s, value=v) for s, v in values]
    )


def release_study(request: pb.ReleaseRequest) -> str:
    return trial_study(request.study, "")


def release(service: StudyService, request: pb.ReleaseRequest) -> pb.ReleaseResponse:
    trial = service.release(release_study(request), request.trial_id)
    return pb.ReleaseResponse(trial=conv.trial_to_proto(trial))


def tell(service: StudyService, request: pb.TellRequest) -> pb.TellResponse:
    outcome = conv.outcome_from_proto(request)
    params = conv.params_from_proto(request.architecture.params)
    if len(request.architecture.text) > conv.MAX_TEXT:
        raise InvalidArgumentError(f"architecture text is longer than {conv.MAX_TEXT}")
    trial = service.tell(request.study, request.architecture.text, params, outcome)
    return pb.TellResponse(trial=conv.trial_to_proto(trial))


def enqueue(service: StudyService, request: pb.EnqueueRequest) -> pb.EnqueueResponse:
    archs = []
    for a in request.architectures:
        if len(a.text) > conv.MAX_TEXT:
            raise InvalidArgumentError(f"architecture text is longer than {conv.MAX_TEXT}")
        archs.append((a.text, conv.params_from_proto(a.params)))
    queued, skipped = service.enqueue(request.study, archs)
    return pb.EnqueueResponse(
        trials=[conv.trial_to_proto(t) for t in queued],
        skipped=[pb.EnqueueSkipped(index=i, reason=r) for i, r in skipped],
    )


def tell_many(service: StudyService, request: pb.TellManyRequest) -> pb.TellManyResponse:
    """Bulk import (`importer.import_rows`): all rows validated, then one transaction."""
    rows = conv.tell_rows_from_proto(request.rows)
    results = service.tell_many(request.study, rows, request.validate_only)
    return pb.TellManyResponse(results=[conv.tell_result_to_proto(r) for r in results])


def list_trials(
    service: StudyService, request: pb.ListTrialsRequest, page_bytes: int = PAGE_BYTES
) -> pb.ListTrialsResponse:
    size = page_size(request.page_size)
    after = parse_page_token(request.page_token)
    states = conv.states_from_proto(request.states)
    trials = service.list_trials(request.study, states=states, after_id=after, limit=size + 1)
    page, more = fill_page([conv.trial_to_proto(t) for t in trials], size, page_bytes)
    return pb.ListTrialsResponse(
        trials=page, next_page_token=page_token(page[-1].id) if more else ""
    )


def get_best(service: StudyService, request: pb.GetBestRequest) -> pb.GetBestResponse:
    front = service.pareto_front(request.study)
    if front is None:
        return pb.GetBestResponse(trial=conv.trial_to_proto(service.best(request.study)))
    if not front:
        raise NotFoundError(
            f"study {request.study!r} has no COMPLETED trial that meets its metric constraints"
        )
    wire = [conv.trial_to_proto(t) for t in front]
    return pb.GetBestResponse(trial=wire[0], pareto_front=wire)


def predict(service: StudyService, request: pb.PredictRequest) -> pb.PredictResponse:
    archs = [
        (a.text[: conv.MAX_TEXT + 1], conv.params_from_proto(a.params))
        for a in request.architectures
    ]
    if any(len(text) > conv.MAX_TEXT for text, _ in archs):
        raise InvalidArgumentError(f"architecture text is longer than {conv.MAX_TEXT}")
    values, version = service.predict(request.study, archs)
    return pb.PredictResponse(values=values, model_version=f"v{version}")
