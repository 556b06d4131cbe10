"""Study operations written once for both clients.

Each method builds a request and hands it to the owning client's `_invoke`, which returns
the parsed result (sync client) or an awaitable of it (async client).
"""

from __future__ import annotations

import inspect
from typing import Any
from typing import Iterable

from archsampler_client import _import
from archsampler_client import _requests as req
from archsampler_client.models import StudyInfo
from archsampler_client.models import Trial
from archsampler_client.proto import archsampler_pb2 as pb


def _trials(resp: Any) -> list[Trial]:
    return [Trial.from_proto(t) for t in resp.trials]


def _trial(resp: Any) -> Trial:
    return Trial.from_proto(resp.trial)


def studies_page(resp: Any) -> tuple[list[StudyInfo], str]:
    """A ListStudies answer: `(studies, next_page_token)`."""
    return [StudyInfo.from_proto(s) for s in resp.studies], resp.next_page_token


class StudyOps:
    """Operations on one study. Use `Client.create_study` / `Client.study` to get one."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def propose(self, count: int = 1, client_id: str = "", request_id: str | None = None) -> Any:
        """Ask for `count` new architectures (PENDING trials).

        A fresh `request_id` is generated per call, so the SDK's own retries after a lost
        reply return the same trials instead of new ones.
        """
        return self.client._invoke(
            "Propose", req.propose(self.name, count, client_id, request_id), _trials
        )

    def session(self) -> Any:
        """A `Session` (sync client) / `AsyncSession` (async client) on this study: propose,
        report, heartbeat and report_and_propose over one stream instead of one RPC per call."""
        return self.client._session_type(self.client, self.name)

    def report(
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
    ) -> Any:
        """Report exactly one of `value`, `failed=reason`, `infeasible=reason`, or in a study
        with several objectives `values={name: value}` (every objective); or
        `stopped=True` / `stopped=reason` for a trial stopped early (it ends STOPPED with
        `value`, or with its last intermediate value when `value` is None). A failure with
        `retryable=True` (e.g. a preempted node) queues the architecture to be proposed
        again, first, while the study's `max_retries` allows."""
        msg = req.report(
            self.name,
            trial_id,
            value,
            failed,
            infeasible,
            checkpoint_uri,
            metadata,
            stopped,
            retryable,
            values,
        )
        return self.client._invoke("Report", msg, _trial)

    def report_intermediate(self, trial_id: int, step: int, value: float) -> Any:
        """Record `value` at `step` (e.g. an epoch) of a pending trial; returns whether the
        study's stopping rule says the trial should stop now (then report `stopped=True`)."""
        msg = req.report_intermediate(self.name, trial_id, step, value)
        return self.client._invoke("ReportIntermediate", msg, lambda r: r.should_stop)

    def enqueue(self, archs: list[str | dict[str, Any]]) -> Any:
        """Queue architectures (canonical strings or params dicts) to be proposed before
        the strategy's own, in order, once each: `(QUEUED trials, [(index, reason)] of
        those skipped because they are queued, pending or evaluated already)`."""
        return self.client._invoke(
            "Enqueue",
            req.enqueue(self.name, archs),
            lambda r: (_trials(r), [(s.index, s.reason) for s in r.skipped]),
        )

    def should_stop(self, trial_id: int) -> Any:
        """Whether the study's stopping rule says a pending trial should stop now."""
        msg = pb.ShouldStopRequest(study=self.name, trial_id=trial_id)
        return self.client._invoke("ShouldStop", msg, lambda r: r.should_stop)

    def intermediate_values(self, trial_id: int) -> Any:
        """A trial's `(step, value)` pairs in step order."""
        msg = pb.ListIntermediateValuesRequest(study=self.name, trial_id=trial_id)
        return self.client._invoke(
            "ListIntermediateValues", msg, lambda r: [(v.step, v.value) for v in r.values]
        )

    def heartbeat(self, trial_id: int) -> Any:
        """Extend the lease of a pending trial."""
        msg = pb.HeartbeatRequest(study=self.name, trial_id=trial_id)
        return self.client._invoke("Heartbeat", msg, _trial)

    def release(self, trial_id: int) -> Any:
        """Give back a pending trial you will not finish: it turns STALE now and its
        architecture may be proposed again (FAILED_PRECONDITION when it is not PENDING)."""
        msg = pb.ReleaseRequest(study=self.name, trial_id=trial_id)
        return self.client._invoke("Release", msg, _trial)

    def tell(
        self,
        arch: str | dict[str, Any],
        value: float | None = None,
        *,
        failed: str | None = None,
        infeasible: str | None = None,
        checkpoint_uri: str = "",
        metadata: dict[str, str] | None = None,
        values: dict[str, float] | None = None,
    ) -> Any:
        """Import a result for an architecture (canonical string or params dict); in a study
        with several objectives `values={name: value}` instead of `value`."""
        msg = req.tell(
            self.name, arch, value, failed, infeasible, checkpoint_uri, metadata, values
        )
        return self.client._invoke("Tell", msg, _trial)

    def tell_many(
        self,
        rows: Iterable[dict[str, Any]],
        *,
        chunk_rows: int = _import.CHUNK_ROWS,
        validate: bool = True,
    ) -> Any:
        """Import many results: each row a dict with `study.tell`'s keywords (`arch`, one of
        `value` / `failed` / `infeasible`, `checkpoint_uri`, `metadata`) and an optional
        `line` named in errors. Returns an `ImportSummary` (created, unchanged, trials).

        Rows go in `TellMany` requests of at most `chunk_rows` rows and 1 MiB. With
        `validate` every request is first checked by the server (nothing written) and all
        bad rows raise `TellManyError` with their lines; then each request commits in one
        transaction. Idempotent: rows already evaluated with the same outcome are left
        unchanged, so an interrupted import is finished by calling it again.
        """
        parts = _import.chunks(_import.row_messages(rows), chunk_rows)
        if not parts:
            raise ValueError("no rows to import")
        if inspect.iscoroutinefunction(self.client._invoke):
            return self._tell_many_async(parts, validate)
        summary = _import.ImportSummary()
        if validate:
            errors = []
            for part in parts:
                msg = _import.validate_request(self.name, part)
                errors += self.client._invoke("TellMany", msg, _import.row_errors)
            if errors:
                raise _import.TellManyError(errors)
        for part in parts:
            msg = _import.import_request(self.name, part)
            self.client._invoke("TellMany", msg, lambda r: _import.add_results(summary, r))
        return summary

    async def _tell_many_async(self, parts: list[Any], validate: bool) -> Any:
        summary = _import.ImportSummary()
        if validate:
            errors = []
            for part in parts:
                msg = _import.validate_request(self.name, part)
                errors += await self.client._invoke("TellMany", msg, _import.row_errors)
            if errors:
                raise _import.TellManyError(errors)
        for part in parts:
            msg = _import.import_request(self.name, part)
            await self.client._invoke("TellMany", msg, lambda r: _import.add_results(summary, r))
        return summary

    def predict(self, archs: list[str | dict[str, Any]]) -> Any:
        """Predicted values of architectures from the study's model: `(values, version)`.

        Raises an error with code FAILED_PRECONDITION until the study has a model.
        """
        msg = pb.PredictRequest(
            study=self.name, architectures=[req.architecture(a) for a in archs]
        )
        return self.client._invoke("Predict", msg, lambda r: (list(r.values), r.model_version))

    def best(self) -> Any:
        """The best completed trial (NotFoundError when there is none)."""
        return self.client._invoke("GetBest", pb.GetBestRequest(study=self.name), _trial)

    def pareto_front(self) -> Any:
        """A study with several objectives: its Pareto front, the COMPLETED trials meeting
        the metric constraints that no other dominates (id order, at most 1,000); [] for a
        study with one objective. NotFoundError when no trial qualifies."""
        return self.client._invoke(
            "GetBest",
            pb.GetBestRequest(study=self.name),
            lambda r: [Trial.from_proto(t) for t in r.pareto_front],
        )

    def info(self) -> Any:
        """The study's config and counts."""
        return self.client._invoke(
            "GetStudy",
            pb.GetStudyRequest(name=self.name),
            lambda r: StudyInfo.from_proto(r.study),
        )

    def delete(self) -> Any:
        """Delete the study and all its trials."""
        return self.client._invoke(
            "DeleteStudy", pb.DeleteStudyRequest(name=self.name), lambda r: None
        )

    def trials_page(
        self, page_size: int = 100, page_token: str = "", states: list[str] | None = None
    ) -> Any:
        """One page of trials: `(trials, next_page_token)`; "" means the last page."""
        return self.client._invoke(
            "ListTrials",
            req.list_trials(self.name, page_size, page_token, states),
            lambda r: (_trials(r), r.next_page_token),
        )
