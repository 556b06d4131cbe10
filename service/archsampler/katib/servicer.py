"""Katib's `api.v1.beta1.Suggestion` over archsampler studies.

`GetSuggestions(experiment, trials, current_request_number, total_request_number)`:

1. The Experiment becomes a study (`katib-<experiment name>`; created, or loaded when its
   config is equal).
2. The request's trials are diffed into reports. A Katib trial maps to the archsampler trial
   of the same architecture; the Katib trial name is stored in that trial's metadata
   (`katib.trial`), so a trial already reported under its name is skipped and a repeated
   request reports nothing again. SUCCEEDED with the objective metric -> its value;
   EARLYSTOPPED with it (Katib's early stopping) -> STOPPED with that value; SUCCEEDED or
   EARLYSTOPPED without it, FAILED, KILLED, METRICSUNAVAILABLE -> failed with the reason;
   CREATED / RUNNING / UNKNOWN -> the pending trial's lease is extended (heartbeat).
   A finished Katib trial whose architecture archsampler never proposed is told (`Tell`).
3. `current_request_number` (1..1000) new trials are proposed, keyed by
   `total_request_number` (request id `katib-<total>`): a request Katib retries after a lost
   reply gets the same trials back (unless they ran already: an Experiment of the same name
   created again over the same database gets new ones).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import grpc

from archsampler.errors import AlreadyExistsError
from archsampler.errors import ArchSamplerError
from archsampler.errors import InvalidArgumentError
from archsampler.errors import StorageError
from archsampler.katib._proto import api_pb2 as kpb
from archsampler.katib._proto import api_pb2_grpc as kpb_grpc
from archsampler.katib.backend import StudyBackend
from archsampler.katib.experiment import KatibStudy
from archsampler.katib.experiment import config_error
from archsampler.katib.experiment import katib_study
from archsampler.server.status import handle_errors
from archsampler.study import MAX_PROPOSE
from archsampler.trial import Outcome
from archsampler.trial import TrialState

log = logging.getLogger(__name__)
Ctx = grpc.aio.ServicerContext
TRIAL_KEY = "katib.trial"
MAX_TRIAL_NAME = 253  # a Kubernetes object name
MAX_CACHED_STUDIES = 1024  # studies whose reported Katib trial names are remembered
Condition = kpb.TrialStatus.TrialConditionType
RUNNING = (Condition.Value("CREATED"), Condition.Value("RUNNING"), Condition.Value("UNKNOWN"))


def katib_outcome(trial: Any, metric: str) -> Outcome | None:
    """What a Katib trial reports: None while it runs, else its value, its stop (Katib's
    early stopping: STOPPED with the last objective value it observed) or its failure."""
    condition = trial.status.condition
    if condition in RUNNING:
        return None
    meta = {TRIAL_KEY: trial.name}
    name = Condition.Name(condition)
    if condition in (Condition.Value("SUCCEEDED"), Condition.Value("EARLYSTOPPED")):
        for m in trial.status.observation.metrics:
            if m.name == metric:
                try:
                    value = float(m.value)
                except ValueError:
                    value = math.nan
                if math.isfinite(value):
                    if condition == Condition.Value("EARLYSTOPPED"):
                        reason = f"katib trial {name}"
                        return Outcome(
                            TrialState.STOPPED, value + 0.0, metadata={**meta, "reason": reason}
                        )
                    return Outcome(TrialState.COMPLETED, value + 0.0, metadata=meta)
                reason = (
                    f"katib trial {name.lower()} with objective metric {metric}={m.value[:80]!r}"
                )
                break
        else:
            reason = f"katib trial {name.lower()} without the objective metric {metric!r}"
    else:
        reason = f"katib trial {name}"
    return Outcome(TrialState.FAILED, metadata={**meta, "reason": reason})


class KatibSuggestionServicer(kpb_grpc.SuggestionServicer):
    """`api.v1.beta1.Suggestion` (see the module docstring)."""

    def __init__(self, backend: StudyBackend, default_strategy: str) -> None:
        self.backend = backend
        self.default_strategy = default_strategy
        # (study, created_at) -> Katib trial names already reported there
        self._done: dict[tuple[str, float], set[str]] = {}

    async def _study(self, experiment: Any) -> KatibStudy:
        study = katib_study(experiment, self.default_strategy)
        try:
            await self.backend.validate(study.config)
        except InvalidArgumentError as err:
            raise config_error(err) from None
        return study

    @handle_errors
    async def ValidateAlgorithmSettings(
        self, request: kpb.ValidateAlgorithmSettingsRequest, context: Ctx
    ) -> Any:
        await self._study(request.experiment)
        return kpb.ValidateAlgorithmSettingsReply()

    @handle_errors
    async def GetSuggestions(self, request: kpb.GetSuggestionsRequest, context: Ctx) -> Any:
        count = request.current_request_number
        if not 1 <= count <= MAX_PROPOSE:
            raise InvalidArgumentError(
                f"current_request_number must be in 1..{MAX_PROPOSE}, got {count}"
            )
        study = await self._study(request.experiment)
        created_at = await self.backend.ensure_study(study.name, study.config)
        await self._sync(study, created_at, list(request.trials))
        total = request.total_request_number
        request_id = f"katib-{total}" if total > 0 else ""
        proposed = await self.backend.propose(study.name, count, request_id)
        if request_id and any(t.state != TrialState.PENDING for t in proposed):
            # the id answered an earlier Experiment of this name (deleted and created again
            # over the same database): its trials ran already, so propose afresh
            proposed = await self.backend.propose(study.name, count, "")
        return kpb.GetSuggestionsReply(
            parameter_assignments=[
                kpb.GetSuggestionsReply.ParameterAssignments(
                    assignments=[
                        kpb.ParameterAssignment(name=n, value=v)
                        for n, v in study.codec.to_assignments(t.params)
                    ]
                )
                for t in proposed
            ]
        )

    async def _sync(self, study: KatibStudy, created_at: float, trials: list[Any]) -> None:
        """Report what the request's trials newly tell (see the module docstring).

        Katib trial names already reported are remembered per study (read once from the
        study's trials after a start), so a request whose finished trials are all known reads
        only the study's pending trials.
        """
        key = (study.name, created_at)
        done = self._done.get(key)
        if done is None:
            known = await self.backend.trials(study.name)
            done = {
                t.metadata[TRIAL_KEY]
                for t in known
                if t.state.is_finished() and TRIAL_KEY in t.metadata
            }
            if len(self._done) >= MAX_CACHED_STUDIES:
                self._done.clear()
            self._done[key] = done
        todo: dict[str, Any] = {}
        for trial in trials:
            if trial.name and len(trial.name) <= MAX_TRIAL_NAME and trial.name not in done:
                todo.setdefault(trial.name, trial)
        if not todo:
            return
        live = {
            t.arch_hash: t
            for t in await self.backend.trials(study.name, (TrialState.PENDING, TrialState.STALE))
        }
        names: list[str | None] = []  # per call: the Katib trial it finishes, if any
        calls = []
        for name, trial in todo.items():
            outcome = katib_outcome(trial, study.metric)
            try:
                params = study.codec.from_assignments(
                    {a.name: a.value for a in trial.spec.parameter_assignments.assignments}
                )
                arch_hash = await self.backend.arch_hash(study.name, params)
            except InvalidArgumentError as err:
                log.warning("katib trial %r of study %r skipped: %s", name, study.name, err)
                done.add(name)
                continue
            pending = live.get(arch_hash)
            if outcome is None:
                if pending is not None and pending.state == TrialState.PENDING:
                    names.append(None)
                    calls.append(self.backend.heartbeat(study.name, pending.id))
                continue
            names.append(name)
            if pending is not None:
                live.pop(arch_hash)
                calls.append(self.backend.report(study.name, pending.id, outcome))
            else:  # never proposed (or its trial is gone): told; refused when already there
                calls.append(self.backend.tell(study.name, params, outcome))
        results = await asyncio.gather(*calls, return_exceptions=True)
        for name, result in zip(names, results, strict=True):
            if isinstance(result, StorageError):
                raise result  # UNAVAILABLE: Katib retries the request
            if isinstance(result, BaseException) and not isinstance(result, ArchSamplerError):
                raise result
            if isinstance(result, ArchSamplerError) and not isinstance(result, AlreadyExistsError):
                log.warning("katib trial %r of study %r refused: %s", name, study.name, result)
            if name is not None:
                done.add(name)
