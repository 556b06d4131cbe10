"""Random request messages for every RPC of `archsampler.v1.ArchSampler` (the fuzzer's input).

`RequestGen` draws requests from a seeded `random.Random`: int32/int64 extremes, NaN/inf,
huge and malformed strings, unknown enums and page tokens, random user-space specs and
architectures of the wrong space, mixed with valid values harvested from the server (real
studies, trial ids, architectures, page tokens) so the fuzzer also reaches deep paths.
`requests()` wraps the same generator as a hypothesis strategy.
"""

from __future__ import annotations

import base64
import math
import random
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from google.protobuf import json_format
from google.protobuf import struct_pb2

from archsampler_client.proto import archsampler_pb2 as pb

METHODS: tuple[str, ...] = tuple(
    m.name for m in pb.DESCRIPTOR.services_by_name["ArchSampler"].methods
)
WATCH = "Health.Watch"  # not an ArchSampler RPC: opens many health Watch streams at once
FLOOD = "Propose.flood"  # many Proposes at once to an exhausted space, as a retry storm
DRAWN: tuple[str, ...] = (*METHODS, WATCH, FLOOD)
INT32 = (0, 1, -1, 2, 1000, 1001, 2**31 - 1, -(2**31))
INT64 = (0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63))
FLOATS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, 2.5, -1.0)
JUNK = "\x00\x01\x1f\x7f\t\n é中文🙂\u200b\u202e\ufeff\uffff\U0010ffff,=|~+:[]{}'\"\\"
NAME_CHARS = "abcXYZ019_.-"
HUGE = (70_000, 1_000_000, 5_000_000)  # the last one is over the server's 4 MiB limit
HUGE_N = (1025, 20_000, 200_000)  # choices of one categorical param, all over the limit
STATES = tuple(range(6))
WEIGHTS = {
    "CreateStudy": 12, "GetStudy": 4, "ListStudies": 3, "DeleteStudy": 4, "Propose": 8,
    "Report": 18, "Heartbeat": 8, "Release": 4, "Tell": 18, "ListTrials": 10, "GetBest": 4,
    "Predict": 6, "Session": 8, WATCH: 1, FLOOD: 1,
}  # fmt: skip
"""Relative frequency of each RPC (an RPC added to the proto later gets 5)."""
# Float and categorical params only: int params cannot be created over the wire yet (the
# proto's doubles arrive as floats and the spec wants strict ints; reported to the lead).
USER_SPACE: dict[str, Any] = {
    "params": [
        {"name": "width", "type": "float", "low": 1.0, "high": 8.0},
        {"name": "op", "type": "categorical", "choices": ["conv", "pool", "id"]},
        {
            "name": "drop",
            "type": "float",
            "low": 0.0,
            "high": 0.5,
            "condition": {"param": "op", "op": "==", "value": "conv"},
        },
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    ],
    "constraints": [{"coefficients": {"width": 1.0, "drop": 2.0}, "op": "<=", "bound": 8.5}],
}
# Names a careless or hostile client sends: control characters, a trailing newline (a `$`
# anchor admits it), separators and look-alikes.
BAD_NAMES = ("abc\n", "fz-nb201\n", "a\x00b", "\tabc", "a/b", "a b", "ab\u200b", "é")
# Out-of-bound strategy option values (every option is bounded and refused beyond).
OPTION_EXTREMES = (1e12, 1e6, 10**5, -1, 0, 2**63, 1e308, 0.5)
OPTION_KEYS = (
    "height", "cp", "init_samples", "min_samples", "sampler", "candidates", "rank", "explore",
    "target", "virtual_loss", "population", "sample_size", "bogus",
)  # fmt: skip


def tiny_config() -> pb.StudyConfig:
    """A space of two architectures: exhausted after one Propose(2)."""
    space = pb.UserSpace()
    json_format.ParseDict(
        {"params": [{"name": "op", "type": "categorical", "choices": ["a", "b"]}]}, space
    )
    return pb.StudyConfig(space=pb.SpaceSpec(user=space), strategy="random")


def protected_configs() -> dict[str, pb.StudyConfig]:
    """The studies created before fuzzing; fuzzing must never change or delete them."""
    user = pb.UserSpace()
    json_format.ParseDict(USER_SPACE, user)
    return {
        "fz-nb201": pb.StudyConfig(space=pb.SpaceSpec(builtin="nb201"), strategy="random"),
        "fz-nb101": pb.StudyConfig(
            space=pb.SpaceSpec(builtin="nb101"), strategy="evolution", goal=pb.MINIMIZE, seed=7
        ),
        "fz-user": pb.StudyConfig(space=pb.SpaceSpec(user=user), strategy="lanas", seed=3),
    }


@dataclass
class Harvest:
    """What the fuzzer learned from the server, fed back into later requests."""

    configs: dict[str, pb.StudyConfig] = field(default_factory=dict)  # protected, as stored
    studies: list[str] = field(default_factory=list)  # every study known to exist
    archs: dict[str, list[pb.Architecture]] = field(default_factory=dict)
    trial_ids: list[int] = field(default_factory=list)
    trial_study: dict[int, str] = field(default_factory=dict)  # a harvested trial's study
    tokens: list[str] = field(default_factory=lambda: [""])
    acked: dict[int, tuple[str, int, float | None]] = field(default_factory=dict)
    reports: dict[int, pb.ReportRequest] = field(default_factory=dict)
    # trials released (STALE): a late report of one is recorded even when its architecture
    # was told or proposed again meanwhile (README: leases), so it may share that arch
    released: set[int] = field(default_factory=set)

    def add_trial(self, trial: pb.Trial) -> None:
        """Remember a trial's id and architecture (bounded pools)."""
        self.trial_ids.append(trial.id)
        self.trial_study[trial.id] = trial.study
        if len(self.trial_study) > 2000:
            for old in list(self.trial_study)[:1000]:
                del self.trial_study[old]
        pool = self.archs.setdefault(trial.study, [])
        pool.append(trial.architecture)
        for lst in (self.trial_ids, pool):
            if len(lst) > 300:
                del lst[: len(lst) - 200]


class RequestGen:
    """Draws `(method, request)` pairs for every RPC from `rng`, using `harvest`."""

    def __init__(self, rng: random.Random, harvest: Harvest) -> None:
        self.r = rng
        self.h = harvest

    def draw(self) -> tuple[str, Any]:
        """One request: the method name and its message."""
        method = self.r.choices(DRAWN, [WEIGHTS.get(m, 5) for m in DRAWN])[0]
        if method == WATCH:
            return method, self.r.choice((1, 8, 64, 100))  # how many streams
        if method == FLOOD:
            return method, self.r.choice((8, 32, 100))  # how many Proposes at once
        return method, getattr(self, method)()

    # -- scalars ------------------------------------------------------------------------
    def p(self, prob: float) -> bool:
        return self.r.random() < prob

    def text(self, huge: float = 0.01) -> str:
        r = self.r
        kind = r.randrange(7)
        if self.p(huge):
            return r.choice("xé中") * r.choice(HUGE)
        if kind == 0:
            return ""
        if kind == 1:
            return "".join(r.choices(NAME_CHARS, k=r.choice((1, 8, 128, 129, 300))))
        if kind == 2:
            return "".join(r.choices(JUNK, k=r.randint(1, 40)))
        if kind == 3:
            # any code point but surrogates, which proto3 strings cannot carry (not UTF-8)
            points = (r.randint(1, 0x10FFFF - 0x800) for _ in range(r.randint(1, 20)))
            return "".join(chr(c if c < 0xD800 else c + 0x800) for c in points)
        if kind == 4 and self.h.archs:
            return self.mutate(r.choice(self.arch_pool()).text)
        return r.choice(("nb201", "nb101", "user", "fz-nb201", "-1", "null", "in", "<="))

    def mutate(self, s: str) -> str:
        """A valid string with one random edit (or unchanged)."""
        r = self.r
        if not s or self.p(0.3):
            return s
        i = r.randrange(len(s))
        edit = r.randrange(4)
        if edit == 0:
            return s[:i]
        if edit == 1:
            return s[:i] + r.choice(JUNK + "0123456789") + s[i + 1 :]
        if edit == 2:
            return s[:i] + s[i:] * 2
        return s.replace(s[i], r.choice(("", "|", "~", "0", "x")))

    def name(self) -> str:
        if self.h.studies and self.p(0.8):
            return self.r.choice(self.h.studies)
        return self.r.choice(BAD_NAMES) if self.p(0.2) else self.text()

    def trial_study(self, trial_id: int) -> str:
        """The study a trial call names: its own mostly, else another one (a foreign trial
        id, which must be NOT_FOUND), empty, or junk."""
        own = self.h.trial_study.get(trial_id)
        if own is not None and self.p(0.75):
            return own
        return self.name() if self.p(0.8) else ""

    def int32(self) -> int:
        return self.r.randint(-2, 5) if self.p(0.6) else self.r.choice(INT32)

    def int64(self) -> int:
        r = self.r
        if self.p(0.1):
            return r.randint(-(2**63), 2**63 - 1)
        return r.randint(-3, 10**4) if self.p(0.5) else r.choice(INT64)

    def trial_id(self) -> int:
        if self.h.trial_ids and self.p(0.8):
            return self.r.choice(self.h.trial_ids) + (self.r.choice((-1, 1)) if self.p(0.1) else 0)
        return self.int64()

    def double(self) -> float:
        return self.r.uniform(0, 100) if self.p(0.6) else self.r.choice(FLOATS)

    def scalar(self) -> Any:
        return self.r.choice((self.double(), self.int32(), self.text(huge=0), self.p(0.5), None))

    def value(self, msg: struct_pb2.Value, depth: int = 0) -> None:
        """Fill a `google.protobuf.Value` randomly (possibly nested)."""
        kind = self.r.randrange(6 if depth < 2 else 4)
        if kind == 0:
            msg.number_value = self.double()
        elif kind == 1:
            msg.string_value = self.text(huge=0)
        elif kind == 2:
            msg.bool_value = self.p(0.5)
        elif kind == 3:
            msg.null_value = struct_pb2.NULL_VALUE
        elif kind == 4:
            for _ in range(self.r.randint(0, 3)):
                self.value(msg.list_value.values.add(), depth + 1)
        else:
            for _ in range(self.r.randint(0, 3)):
                self.value(msg.struct_value.fields[self.text(huge=0)], depth + 1)

    # -- structured fields -------------------------------------------------------------------
    def arch_pool(self) -> list[pb.Architecture]:
        return self.h.archs[self.r.choice(sorted(self.h.archs))]

    def architecture(self, study: str) -> pb.Architecture:
        r = self.r
        own = self.h.archs.get(study) or []
        pool = own if own and self.p(0.6) else (self.arch_pool() if self.h.archs else [])
        base = r.choice(pool) if pool else pb.Architecture()
        out = pb.Architecture()
        how = r.randrange(6)
        if how in (0, 2, 3):
            out.text = self.mutate(base.text) if how == 3 else base.text
        if how in (1, 2, 4):
            out.params.MergeFrom(base.params)
            if how == 4 and out.params:
                key = r.choice(sorted(out.params))
                if self.p(0.3):
                    del out.params[key]
                else:
                    out.params[key].CopyFrom(self.param_value())
        if how == 5:
            out.text = self.text()
            for _ in range(r.randint(0, 4)):
                out.params[self.text(huge=0)].CopyFrom(self.param_value())
        if how == 2 and self.p(0.2) and pool:  # text and params of different architectures
            out.text = r.choice(pool).text
        return out

    def param_value(self) -> pb.ParamValue:
        kind = self.r.randrange(5)
        if kind == 0:
            return pb.ParamValue(string_value=self.text(huge=0))
        if kind == 1:
            return pb.ParamValue(int_value=self.int64())
        if kind == 2:
            return pb.ParamValue(float_value=self.double())
        if kind == 3:
            return pb.ParamValue(bool_value=self.p(0.5))
        return pb.ParamValue()

    def outcome(self, msg: pb.ReportRequest | pb.TellRequest) -> None:
        kind = self.r.randrange(8)
        if kind < 4:
            msg.value = self.double()
        elif kind == 4:
            msg.failed.reason = self.text()
            if self.p(0.3):
                msg.failed.retryable = True  # refused on a Tell
        elif kind == 5:
            msg.infeasible.reason = self.text()
        elif kind == 6 and isinstance(msg, pb.ReportRequest):
            msg.stopped.reason = self.text() if self.p(0.5) else ""
            if self.p(0.5):
                msg.stopped.value = self.double()
        if self.p(0.2):
            msg.checkpoint_uri = self.text(huge=0.05)
        if self.p(0.2):
            n = self.r.choice((1, 3, 64, 65))
            for _ in range(n):
                msg.metadata[self.text(huge=0.01 if n < 64 else 0)] = self.text(huge=0.01)

    def user_space(self) -> pb.UserSpace:
        r = self.r
        space = pb.UserSpace()
        json_format.ParseDict(USER_SPACE, space)
        if self.p(0.3):
            return space  # valid (as a fresh study, or a config equal to fz-user's)
        if self.p(0.5):
            del space.params[:]
            del space.constraints[:]
        for _ in range(r.choice((0, 1, 2, 3, 5, 300)) if self.p(0.5) else 0):
            q = space.params.add(name=self.text(huge=0) if self.p(0.2) else f"p{r.randrange(6)}")
            q.type = r.choice(("int", "float", "categorical", self.text(huge=0)))
            for attr in ("low", "high", "step"):
                if self.p(0.7):
                    setattr(q, attr, self.double() if self.p(0.5) else float(self.int32()))
            if self.p(0.3):
                q.log = self.p(0.5)
            q.choices.extend(self.text(huge=0) for _ in range(r.choice((0, 1, 3))))
            if self.p(0.01):  # a huge categorical: refused by the space limits, quickly
                q.type, q.choices[:] = "categorical", [f"c{i}" for i in range(r.choice(HUGE_N))]
            if self.p(0.3):
                q.condition.param = f"p{r.randrange(6)}" if self.p(0.7) else self.text(huge=0)
                q.condition.op = r.choice(("==", "!=", "<", "<=", ">", ">=", "in", "~"))
                self.value(q.condition.value)
        if self.p(0.01):  # a huge space: many params of many choices
            n = r.choice((257, 1024))
            for i in range(n):
                space.params.add(name=f"h{i}", type="categorical").choices.extend(
                    f"c{j}" for j in range(r.choice((2, 64)))
                )
        for _ in range(r.choice((0, 0, 1, 2))):
            c = space.constraints.add(op=r.choice(("<=", ">=", "==", "")))
            if self.p(0.8):  # bound 0 travels (field presence); no bound is refused
                c.bound = 0.0 if self.p(0.3) else self.double()
            for _ in range(r.randint(0, 3)):
                c.coefficients[f"p{r.randrange(6)}" if self.p(0.7) else "width"] = self.double()
        return space

    def config(self) -> pb.StudyConfig:
        r = self.r
        cfg = pb.StudyConfig()
        kind = r.randrange(5)
        if kind < 2:
            cfg.space.builtin = r.choice(("nb201", "nb101")) if self.p(0.8) else self.text()
        elif kind < 4:
            cfg.space.user.CopyFrom(self.user_space())
        cfg.strategy = r.choice(("", "random", "evolution", "lanas", "random", self.text()))
        if self.p(0.3):
            for _ in range(r.randint(1, 3)):
                key = r.choice(OPTION_KEYS) if self.p(0.8) else self.text(huge=0)
                if self.p(0.3):
                    cfg.strategy_options.fields[key].number_value = r.choice(OPTION_EXTREMES)
                else:
                    self.value(cfg.strategy_options.fields[key])
        cfg.goal = r.choice((0, 1, 2, 0, 1, 2, 3, -1, 2**31 - 1))
        cfg.seed = self.int64() if self.p(0.3) else 0
        if self.p(0.15):
            cfg.stopping.rule = r.choice(("median", "asha", "curve", "none", "", self.text()))
            if self.p(0.5):
                key = r.choice(
                    (
                        "startup_trials",
                        "warmup_steps",
                        "min_step",
                        "reduction_factor",
                        "max_step",
                        "margin",
                        self.text(huge=0),
                    )
                )
                cfg.stopping.options.fields[key].number_value = r.choice(OPTION_EXTREMES)
        if self.p(0.1):
            cfg.max_retries = self.int32()
        return cfg

    # -- one builder per RPC -------------------------------------------------------------
    def CreateStudy(self) -> pb.CreateStudyRequest:
        r = self.r
        if self.h.configs and self.p(0.15):  # reload a protected study, same or other config
            name = r.choice(sorted(self.h.configs))
            cfg = self.h.configs[name] if self.p(0.5) else self.config()
            return pb.CreateStudyRequest(name=name, config=cfg)
        name = f"fz-{r.randrange(6)}" if self.p(0.6) else self.text()
        return pb.CreateStudyRequest(name=name, config=self.config() if self.p(0.9) else None)

    def GetStudy(self) -> pb.GetStudyRequest:
        return pb.GetStudyRequest(name=self.name())

    def ListStudies(self) -> pb.ListStudiesRequest:
        r = self.r
        req = pb.ListStudiesRequest(page_size=r.choice((0, 0, 1, 2, self.int32())))
        if self.p(0.3):
            req.page_token = r.choice(self.h.tokens) if self.p(0.5) else self.text()
        return req

    def DeleteStudy(self) -> pb.DeleteStudyRequest:
        name = self.name()
        return pb.DeleteStudyRequest(name="" if name in self.h.configs else name)

    def Propose(self) -> pb.ProposeRequest:
        # the maximum (1000) is rare: on a lanas nb101 study it costs seconds, not a bug
        count = self.r.choice((1, 1, 2, 3)) if self.p(0.7) else self.int32()
        if count == 1000 and not self.p(0.1):
            count = 1001
        req = pb.ProposeRequest(study=self.name(), count=count)
        if self.p(0.3):
            req.client_id = self.text()
        if self.p(0.3):
            req.request_id = f"req-{self.r.randrange(5)}" if self.p(0.7) else self.text()
        return req

    def Report(self) -> pb.ReportRequest:
        if self.h.reports and self.p(0.1):  # the same report again
            return self.h.reports[self.r.choice(sorted(self.h.reports))]
        trial_id = self.trial_id()
        req = pb.ReportRequest(study=self.trial_study(trial_id), trial_id=trial_id)
        self.outcome(req)
        return req

    def Heartbeat(self) -> pb.HeartbeatRequest:
        trial_id = self.trial_id()
        return pb.HeartbeatRequest(study=self.trial_study(trial_id), trial_id=trial_id)

    def ReportIntermediate(self) -> pb.ReportIntermediateRequest:
        trial_id = self.trial_id()
        step = self.r.choice((0, 1, 2, 3, 9, 27)) if self.p(0.8) else self.int64()
        return pb.ReportIntermediateRequest(
            study=self.trial_study(trial_id), trial_id=trial_id, step=step, value=self.double()
        )

    def ShouldStop(self) -> pb.ShouldStopRequest:
        trial_id = self.trial_id()
        return pb.ShouldStopRequest(study=self.trial_study(trial_id), trial_id=trial_id)

    def ListIntermediateValues(self) -> pb.ListIntermediateValuesRequest:
        trial_id = self.trial_id()
        return pb.ListIntermediateValuesRequest(
            study=self.trial_study(trial_id), trial_id=trial_id
        )

    def Enqueue(self) -> pb.EnqueueRequest:
        study = self.name()
        n = self.r.choice((0, 1, 2, 3, 1001)) if self.p(0.9) else 1
        return pb.EnqueueRequest(
            study=study, architectures=[self.architecture(study) for _ in range(n)]
        )

    def Release(self) -> pb.ReleaseRequest:
        trial_id = self.trial_id()
        return pb.ReleaseRequest(study=self.trial_study(trial_id), trial_id=trial_id)

    def Tell(self) -> pb.TellRequest:
        study = self.name()
        req = pb.TellRequest(study=study, architecture=self.architecture(study))
        self.outcome(req)
        return req

    def TellMany(self) -> pb.TellManyRequest:
        """0..3 rows (sometimes 1,001: over the limit), random line numbers."""
        study = self.name()
        n = self.r.choice((0, 1, 2, 3)) if self.p(0.95) else 1001
        req = pb.TellManyRequest(study=study, validate_only=self.p(0.2))
        for _ in range(n):
            row = req.rows.add(architecture=self.architecture(study), line=self.int64())
            self.outcome(row)
        return req

    def ListTrials(self) -> pb.ListTrialsRequest:
        r = self.r
        req = pb.ListTrialsRequest(study=self.name(), page_size=r.choice((0, 1, 2, self.int32())))
        token = r.randrange(5)
        if token == 0:
            req.page_token = r.choice(self.h.tokens)
        elif token == 1:
            n = r.choice((-1, 0, 2**63, 10**30, "٣", "²", " 1", r.randrange(10**4)))
            req.page_token = base64.urlsafe_b64encode(f"after:{n}".encode()).decode()
        elif token == 2:
            req.page_token = base64.urlsafe_b64encode(r.randbytes(r.randrange(12))).decode()
        elif token == 3:
            req.page_token = self.text()
        if self.p(0.3):
            req.states.extend(r.choice(STATES) if self.p(0.8) else self.int32() for _ in "ab")
        return req

    def Session(self) -> list[pb.SessionRequest]:
        """A stream of 1..6 Propose / Report / Heartbeat / ReportAndPropose calls, some with
        no call set."""
        out = []
        for _ in range(self.r.randint(1, 6)):
            kind = self.r.choice(("propose", "report", "heartbeat", "report_and_propose",
                                  "report_intermediate", "should_stop", "none"))  # fmt: skip
            if kind in ("report_intermediate", "should_stop"):
                builder = self.ReportIntermediate if kind == "report_intermediate" else None
                call = {kind: builder() if builder else self.ShouldStop()}
            elif kind == "report_and_propose":
                step = pb.ReportAndProposeRequest(report=self.Report(), propose=self.Propose())
                if self.p(0.5):
                    step.report.study = step.propose.study
                call = {kind: step}
            else:
                call = {} if kind == "none" else {kind: getattr(self, kind.capitalize())()}
            out.append(pb.SessionRequest(**call))
        return out

    def GetBest(self) -> pb.GetBestRequest:
        return pb.GetBestRequest(study=self.name())

    def Predict(self) -> pb.PredictRequest:
        study = self.name()
        n = self.r.choice((0, 1, 2, 3)) if self.p(0.9) else self.r.choice((1000, 1001))
        req = pb.PredictRequest(study=study)
        if n >= 1000:  # the same architecture many times: cheap to build, hits the limit
            req.architectures.extend([self.architecture(study)] * n)
        else:
            req.architectures.extend(self.architecture(study) for _ in range(n))
        return req


def requests(harvest: Harvest) -> Any:
    """A hypothesis strategy of `(method, request)` pairs drawn by `RequestGen`.

    Hypothesis draws only the seed of a plain `random.Random` (`use_true_random=True`), so
    the draws stay consistent while `harvest` grows between examples.
    """
    from hypothesis import strategies as st

    return st.randoms(use_true_random=True).map(lambda rng: RequestGen(rng, harvest).draw())
