"""Fuzz every RPC of `archsampler.v1.ArchSampler` against a live server and check invariants.

Per case: the status is never INTERNAL or UNKNOWN, the call finishes within its deadline,
an acknowledged answer is consistent with its request, and the server still answers a
health check (and its process, when given, is alive). At the end: the studies created
up front keep their configs, and every acknowledged outcome is stored as acknowledged.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable

import grpc
from google.protobuf import text_format
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc

from archsampler.testing.fuzz_requests import DRAWN
from archsampler.testing.fuzz_requests import FLOOD
from archsampler.testing.fuzz_requests import METHODS
from archsampler.testing.fuzz_requests import WATCH
from archsampler.testing.fuzz_requests import Harvest
from archsampler.testing.fuzz_requests import RequestGen
from archsampler.testing.fuzz_requests import protected_configs
from archsampler.testing.fuzz_requests import requests
from archsampler.testing.fuzz_requests import tiny_config
from archsampler_client.errors import status_code
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc

__all__ = [
    "DRAWN",
    "METHODS",
    "WATCH",
    "FLOOD",
    "FuzzResult",
    "Fuzzer",
    "Harvest",
    "RequestGen",
    "requests",
    "run_fuzz",
]
BAD_CODES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
MAX_INCIDENTS = 50
_OUTCOME_STATE = {
    "value": pb.COMPLETED,
    "failed": pb.FAILED,
    "infeasible": pb.INFEASIBLE,
    "stopped": pb.STOPPED,
}


class _Any:
    """Equal to any value: a stop without a value keeps the trial's last intermediate one."""

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "<its last intermediate value>"


def describe(request: Any, limit: int = 600) -> str:
    """A request (or a stream of them) as one line of text, long strings shortened."""
    if isinstance(request, list):
        return " | ".join(describe(r, limit) for r in request)[: limit * 2]
    text = text_format.MessageToString(request, as_one_line=True, as_utf8=True)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


@dataclass
class Incident:
    """One finding: an INTERNAL/UNKNOWN status, a hang, a crash or a broken invariant."""

    case: int
    kind: str
    method: str
    detail: str
    request: str


@dataclass
class FuzzResult:
    """Counts per status code and method, and the incidents found."""

    cases: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    by_method: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)  # time in each RPC, per method
    kinds: Counter[str] = field(default_factory=Counter)
    incidents: list[Incident] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.kinds

    def add(self, kind: str, method: str, detail: str, request: Any = None) -> None:
        """Count an incident and keep the first `MAX_INCIDENTS` in full."""
        self.kinds[kind] += 1
        if len(self.incidents) < MAX_INCIDENTS:
            req = describe(request) if request is not None else ""
            self.incidents.append(Incident(self.cases, kind, method, detail[:2000], req))

    def to_json(self) -> dict[str, Any]:
        """The bench's JSON record."""
        return {
            "cases": self.cases,
            "internal": self.kinds["internal"],
            "crashes": self.kinds["crash"],
            "hangs": self.kinds["hang"],
            "violations": self.kinds["violation"],
            "by_code": dict(sorted(self.by_code.items())),
            "by_method": dict(sorted(self.by_method.items())),
            "seconds_by_method": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
            "incidents": [vars(i) for i in self.incidents],
        }


def _expected(req: pb.ReportRequest | pb.TellRequest) -> tuple[int, float | None]:
    kind = req.WhichOneof("outcome")
    if kind == "stopped":
        return pb.STOPPED, (req.stopped.value if req.stopped.HasField("value") else _Any())
    return _OUTCOME_STATE[kind], (req.value if kind == "value" else None)


def _stored(trial: pb.Trial) -> tuple[int, float | None]:
    return trial.state, (trial.value if trial.HasField("value") else None)


class Fuzzer:
    """Sends requests to one server, checks each answer and harvests what it learns."""

    def __init__(
        self, target: str, *, timeout: float = 60.0, alive: Callable[[], bool] | None = None
    ) -> None:
        opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        self.channel = grpc.insecure_channel(target, options=opts)
        self.stub = pb_grpc.ArchSamplerStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.timeout = timeout
        self.alive = alive or (lambda: True)
        self.harvest = Harvest()
        self.result = FuzzResult()
        self.floods = 0  # refusal floods sent: each gets a study of its own

    def __enter__(self) -> Fuzzer:
        self.setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.close()

    def setup(self) -> None:
        """Create the protected studies (or load them) and give each a few trials."""
        h = self.harvest
        for name, config in protected_configs().items():
            study = self.stub.CreateStudy(pb.CreateStudyRequest(name=name, config=config)).study
            h.configs[name] = study.config
            h.studies.append(name)
            reply = self.stub.Propose(pb.ProposeRequest(study=name, count=4))
            for i, trial in enumerate(reply.trials):
                h.add_trial(trial)
                if i < 2:
                    req = pb.ReportRequest(study=name, trial_id=trial.id, value=50.0 + i)
                    self._ack(self.stub.Report(req).trial, req)

    def healthy(self) -> bool:
        """The process is alive and the server answers a health check with SERVING."""
        if not self.alive():
            return False
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(), timeout=30)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def step(self, method: str, request: Any) -> bool:
        """Send one request and check it; False when the server is gone (a crash)."""
        res = self.result
        res.cases += 1
        res.by_method[method] += 1
        start = time.perf_counter()
        try:
            if method == WATCH:
                reply = self.watch_streams(request)
            elif method == FLOOD:
                reply = self.refusal_flood(request)
            elif method == "Session":
                reply = list(self.stub.Session(iter(request), timeout=self.timeout))
            else:
                reply = getattr(self.stub, method)(request, timeout=self.timeout)
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as err:
            reply, code, details = None, err.code(), err.details() or ""
        res.seconds[method] += time.perf_counter() - start
        res.by_code[code.name] += 1
        if code in BAD_CODES:
            res.add("internal", method, f"{code.name}: {details}", request)
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            res.add("hang", method, f"no answer within {self.timeout} s", request)
        elif code == grpc.StatusCode.OK:
            if method == FLOOD and set(reply) & {c.name for c in BAD_CODES}:
                res.add("internal", method, f"flood answered {dict(reply)}", request)
            for r in reply if method == "Session" else ():
                if r.WhichOneof("result") == "error" and status_code(r.error.code) in BAD_CODES:
                    res.add("internal", method, f"{r.error.code}: {r.error.message}", request)
            for problem in self.check(method, request, reply):
                res.add("violation", method, problem, request)
        if not self.healthy():
            res.add("crash", method, f"server gone after a {code.name} answer", request)
            return False
        return True

    def watch_streams(self, n: int) -> int:
        """Open `n` health Watch streams (no credentials), read their first answer, then
        cancel them all; the caller's health check afterwards must still succeed."""
        calls = [self.health.Watch(health_pb2.HealthCheckRequest()) for _ in range(n)]
        served = 0
        try:
            for call in calls:
                try:
                    first = next(call)
                except grpc.RpcError as err:  # refused beyond the stated limit: fine
                    if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    continue
                served += first.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            for call in calls:
                call.cancel()
        return served

    def refusal_flood(self, n: int) -> Counter:
        """Exhaust a fresh two-architecture study, then send it `n` Proposes at once while
        a protected study heartbeats (so its refusals are paced, `priority`); the codes
        they got (`check`: every one RESOURCE_EXHAUSTED)."""
        self.floods += 1
        name = f"fz-flood-{self.floods}"
        self.stub.CreateStudy(pb.CreateStudyRequest(name=name, config=tiny_config()))
        self.harvest.studies.append(name)
        for trial in self.stub.Propose(pb.ProposeRequest(study=name, count=2)).trials:
            self.harvest.add_trial(trial)
        calls = [
            self.stub.Propose.future(pb.ProposeRequest(study=name, count=1), timeout=self.timeout)
            for _ in range(n)
        ]
        beat = next((t for t in self.harvest.trial_ids if t in self.harvest.trial_study), 0)
        study = self.harvest.trial_study.get(beat, "fz-nb201")
        with contextlib.suppress(grpc.RpcError):  # any answer: it stamps the study
            self.stub.Heartbeat(pb.HeartbeatRequest(study=study, trial_id=beat))
        return Counter(_code(call) for call in calls)

    # -- per-answer checks -------------------------------------------------------------
    def _ack(self, trial: pb.Trial, req: pb.ReportRequest | pb.TellRequest) -> list[str]:
        h = self.harvest
        problems = []
        if _stored(trial) != _expected(req):
            problems.append(f"answer {_stored(trial)} differs from the request {_expected(req)}")
        before = h.acked.get(trial.id)
        if before is not None and before[1:] != _stored(trial):
            problems.append(f"trial {trial.id} acknowledged {before[1:]}, now {_stored(trial)}")
        h.acked[trial.id] = (trial.study, *_stored(trial))
        if isinstance(req, pb.ReportRequest) and req.ByteSize() < 100_000:
            h.reports[trial.id] = req
        return problems

    def _check_session(self, reqs: list[pb.SessionRequest], replies: list[Any]) -> list[str]:
        """One answer per streamed call, in-band errors never INTERNAL, each OK one checked."""
        if len(replies) != len(reqs):
            return [f"{len(reqs)} session calls, {len(replies)} answers"]
        problems = []
        for req, reply in zip(reqs, replies, strict=True):
            kind, result = req.WhichOneof("call"), reply.WhichOneof("result")
            if result == "error":
                continue  # its code is checked in `step`
            if result != kind:
                problems.append(f"session {kind} answered with {result}")
            elif kind == "report_and_propose":  # checked as its Report and its Propose
                step, answer = req.report_and_propose, reply.report_and_propose
                report = pb.ReportRequest()
                report.CopyFrom(step.report)
                report.study = report.study or step.propose.study  # an empty one means that
                problems += self.check("Report", report, pb.ReportResponse(trial=answer.reported))
                problems += self.check(
                    "Propose", step.propose, pb.ProposeResponse(trials=answer.trials)
                )
            else:
                inner = getattr(req, kind)
                problems += self.check(kind.capitalize(), inner, getattr(reply, kind))
        return problems

    def check(self, method: str, req: Any, reply: Any) -> list[str]:
        """Consistency problems of one OK answer (and harvest its contents)."""
        h = self.harvest
        if method == "Session":
            return self._check_session(req, reply)
        if method == FLOOD:  # INTERNAL / UNKNOWN are incidents of their own (`step`)
            internal = {c.name for c in BAD_CODES}
            bad = {c: k for c, k in reply.items() if c not in {"RESOURCE_EXHAUSTED", *internal}}
            return [f"exhausted space flooded: answered {bad}"] if bad else []
        if method == "CreateStudy":
            if req.name in h.configs:
                if reply.created or reply.study.config != h.configs[req.name]:
                    return [f"protected study {req.name} was re-created or changed"]
            elif req.name not in h.studies:
                h.studies.append(req.name)
        elif method == "GetStudy" and req.name in h.configs:
            if reply.study.config != h.configs[req.name]:
                return [f"protected study {req.name} config changed"]
        elif method == "DeleteStudy":
            if req.name in h.configs:
                return [f"protected study {req.name} deleted"]
            h.studies = [s for s in h.studies if s != req.name]
            h.archs.pop(req.name, None)
            gone = [i for i, a in h.acked.items() if a[0] == req.name]
            for i in gone:
                h.acked.pop(i)
                h.reports.pop(i, None)
        elif method == "Propose":
            for t in reply.trials:
                h.add_trial(t)
            if not req.request_id:
                bad = [t.id for t in reply.trials if t.state != pb.PENDING or t.study != req.study]
                if len(reply.trials) != req.count or bad:
                    return [f"asked {req.count}, got {len(reply.trials)}; not pending: {bad}"]
        elif method in ("Report", "Tell"):
            if method == "Report" and reply.trial.id != req.trial_id:
                return [f"reported trial {req.trial_id}, answer is trial {reply.trial.id}"]
            if method == "Report" and reply.trial.study != req.study:
                study = reply.trial.study
                return [f"trial {req.trial_id} of study {study!r} reported as {req.study!r}"]
            if method == "Tell":
                h.add_trial(reply.trial)
            return self._ack(reply.trial, req)
        elif method == "Heartbeat":
            if reply.trial.study != req.study:
                return [
                    f"heartbeat on trial {req.trial_id} of another study {reply.trial.study!r}"
                ]
            if reply.trial.state != pb.PENDING or reply.trial.id in h.acked:
                return [f"heartbeat acknowledged on a finished trial {reply.trial.id}"]
        elif method == "Release":
            h.released.add(reply.trial.id)
        elif method == "ListTrials":
            return self._check_listing(req, reply)
        elif method == "Predict":
            values = list(reply.values)
            if len(values) != len(req.architectures) or not all(map(math.isfinite, values)):
                return [f"{len(req.architectures)} architectures, predicted {values[:10]}"]
        elif method == "ListStudies":
            if reply.next_page_token and len(h.tokens) < 100:
                h.tokens.append(reply.next_page_token)
        elif method == "GetBest" and not (
            reply.trial.state == pb.COMPLETED and reply.trial.HasField("value")
        ):
            return [f"best trial {reply.trial.id} is not COMPLETED with a value"]
        return []

    def _check_listing(self, req: pb.ListTrialsRequest, reply: Any) -> list[str]:
        h = self.harvest
        if reply.next_page_token and len(h.tokens) < 100:
            h.tokens.append(reply.next_page_token)
        ids = [t.id for t in reply.trials]
        problems = [] if ids == sorted(set(ids)) else [f"trials not in id order: {ids[:20]}"]
        if req.states and any(t.state not in req.states for t in reply.trials):
            problems.append(f"listing ignores the state filter {list(req.states)}")
        for t in reply.trials:
            ack = h.acked.get(t.id)
            if ack is not None and ack[1:] != _stored(t):
                problems.append(f"trial {t.id} acknowledged {ack[1:]}, listed {_stored(t)}")
        return problems

    # -- end of run ----------------------------------------------------------------------
    def all_trials(self, study: str) -> list[pb.Trial]:
        """Every trial of `study`, paging through ListTrials."""
        out: list[pb.Trial] = []
        token = ""
        while True:
            reply = self.stub.ListTrials(
                pb.ListTrialsRequest(study=study, page_size=1000, page_token=token), timeout=120
            )
            out.extend(reply.trials)
            token = reply.next_page_token
            if not token:
                return out

    def final_checks(self) -> None:
        """Protected configs unchanged; every acknowledged outcome stored; no duplicate arch."""
        res, h = self.result, self.harvest
        if not self.healthy():
            if not res.kinds["crash"]:
                res.add("crash", "-", "server gone at the end of the run")
            return
        for name, config in h.configs.items():
            if self.stub.GetStudy(pb.GetStudyRequest(name=name)).study.config != config:
                res.add("violation", "final", f"protected study {name} config changed")
        studies = {a[0] for a in h.acked.values()} | set(h.configs)
        stored = {s: {t.id: t for t in self.all_trials(s)} for s in sorted(studies)}
        for trial_id, (study, *outcome) in sorted(h.acked.items()):
            t = stored[study].get(trial_id)
            if t is None or _stored(t) != tuple(outcome):
                got = None if t is None else _stored(t)
                res.add("violation", "final", f"trial {trial_id}: acked {outcome}, stored {got}")
        for study, trials in stored.items():
            live = Counter(  # a released trial reported late may repeat a live arch
                t.arch_hash
                for t in trials.values()
                if t.state != pb.STALE and t.id not in h.released
            )
            dups = [a for a, n in live.items() if n > 1]
            if dups:
                res.add("violation", "final", f"study {study}: duplicate archs {dups[:5]}")


def run_fuzz(
    target: str,
    cases: int,
    seed: int = 0,
    *,
    alive: Callable[[], bool] | None = None,
    progress: bool = False,
    timeout: float = 60.0,
) -> FuzzResult:
    """Send `cases` fuzzed requests to the server at `target`, then check what it stored.

    Args:
        target: `host:port` of a running server (its data is added to, never cleared).
        cases: requests to send; a crash ends the run early.
        seed: seeds the request generator (the same seed sends the same first requests).
        alive: returns False once the server process died.
        progress: show a tqdm bar on stderr.
        timeout: per-RPC deadline in seconds; exceeding it counts as a hang.
    """
    from tqdm import tqdm

    with Fuzzer(target, timeout=timeout, alive=alive) as fuzzer:
        gen = RequestGen(random.Random(seed), fuzzer.harvest)
        for _ in tqdm(range(cases), desc="fuzz", unit="req", disable=not progress):
            if not fuzzer.step(*gen.draw()):
                break
        fuzzer.final_checks()
        return fuzzer.result


def _code(call: Any) -> str:
    try:
        call.result()
        return "OK"
    except grpc.RpcError as err:
        return err.code().name


def run_session_flood(
    target: str, streams: int, alive: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """Open `streams` Session streams at once (no token; each held open after one answered
    call) against a server whose `ARCHSAMPLER_MAX_SESSIONS` is below `streams`: those
    beyond the limit must be RESOURCE_EXHAUSTED; then cancel them all, and a new Session
    must be answered and the server healthy. Returns what happened."""
    channel = grpc.insecure_channel(target)
    stub = pb_grpc.ArchSamplerStub(channel)
    study = "fz-session-flood"
    with contextlib.suppress(grpc.RpcError):
        stub.CreateStudy(pb.CreateStudyRequest(name=study, config=tiny_config()))
    beat = pb.SessionRequest(heartbeat=pb.HeartbeatRequest(study=study, trial_id=10**9))
    calls, codes, done = [], Counter(), threading.Event()
    for _ in range(streams):
        call = stub.Session(_held(beat, done), timeout=120)
        calls.append(call)
        try:
            next(call)
            codes["OK"] += 1
        except grpc.RpcError as err:
            codes[err.code().name] += 1
    for call in calls:
        call.cancel()
    done.set()  # the request streams end
    after = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server lets go of cancelled streams
        try:
            after = list(stub.Session(iter([beat]), timeout=10))[0].WhichOneof("result")
            break
        except grpc.RpcError as err:
            after = err.code().name
            time.sleep(0.1)
    channel.close()
    healthy = alive is None or alive()
    return {
        "streams": streams,
        "codes": dict(codes),
        "session_after": after,
        "server_alive": healthy,
        "ok": healthy and after == "error" and set(codes) <= {"OK", "RESOURCE_EXHAUSTED"},
    }


def _held(first: pb.SessionRequest, done: threading.Event) -> Any:
    """A request stream that sends `first`, then stays open until `done`."""
    yield first
    done.wait()
