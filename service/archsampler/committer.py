"""Group commit: one writer thread applies every queued Report and Propose in one transaction.

Under load, many calls share a transaction (and its fsync), so throughput grows with the
number of clients instead of being capped by the disk. Every caller is answered only after
the transaction that holds its write has committed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import InvalidStateError
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from archsampler.errors import ArchSamplerError
from archsampler.errors import ExhaustedError
from archsampler.errors import StorageError
from archsampler.predictor.manager import ModelManager
from archsampler.runtime import StudyRuntime
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.storage.batch import SQLBatch
from archsampler.strategies.base import UsesModel
from archsampler.trial import Outcome
from archsampler.trial import Trial

log = logging.getLogger(__name__)
MAX_BATCH = 512
INSERT_ATTEMPTS = 3


# A caller waits on a thread future, or on a future of its event loop (the servicer).
Waiter = Future | asyncio.Future


def _waiter(loop: asyncio.AbstractEventLoop | None) -> Waiter:
    """A future for a caller; on `loop` when given (call it from that loop's thread)."""
    return Future() if loop is None else loop.create_future()


@dataclass
class ProposeRequest:
    study: str
    count: int
    client_id: str
    request_id: str
    future: Waiter = field(default_factory=Future)


@dataclass
class ReportRequest:
    trial_id: int
    outcome: Outcome
    future: Waiter = field(default_factory=Future)


@dataclass
class StepRequest:
    """Report, then propose in the same transaction (only if the report succeeded).

    Answered with `(reported trial, new trials)`, or the first error.
    """

    report: ReportRequest
    propose: ProposeRequest
    future: Waiter = field(default_factory=Future)


def _resolve(future: Waiter, value: Any, is_error: bool) -> None:
    """Answer a caller; one whose call was cancelled (deadline) is skipped, not an error.

    Cancelled: its trials stay PENDING until a retry fetches them or the lease ends.
    """
    if future.done():
        return
    try:
        if is_error:
            future.set_exception(value)
        else:
            future.set_result(value)
    except (InvalidStateError, asyncio.InvalidStateError):
        pass  # cancelled meanwhile


def _settle(answers: list[tuple[Waiter, Any, bool]]) -> None:
    for future, value, is_error in answers:
        _resolve(future, value, is_error)


def _answer_all(answers: list[tuple[Waiter, Any, bool]]) -> None:
    """Answer callers from the writer thread: loop futures with one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Waiter, Any, bool]]] = {}
    for answer in answers:
        future = answer[0]
        if isinstance(future, asyncio.Future):
            by_loop.setdefault(future.get_loop(), []).append(answer)
        else:
            _resolve(*answer)
    for loop, batch in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, batch)
        except RuntimeError:
            pass  # that loop is closed: nobody is waiting any more


def _step_answers(
    answers: list[tuple[Waiter, Any, bool]], steps: list[StepRequest]
) -> list[tuple[Waiter, Any, bool]]:
    """Fold the answers of each step's report and proposal into one answer for the step."""
    by_future = {id(f): (v, e) for f, v, e in answers}
    inner = {id(s.report.future) for s in steps} | {id(s.propose.future) for s in steps}
    out = [a for a in answers if id(a[0]) not in inner]
    for step in steps:
        value, failed = by_future[id(step.report.future)]
        if not failed:  # a failed report proposed nothing: its error answers the step
            trials, failed = by_future[id(step.propose.future)]
            value = trials if failed else (value, trials)
        out.append((step.future, value, failed))
    return out


class GroupCommitter:
    """Owns the study runtimes and the only thread that writes proposals and reports."""

    def __init__(
        self, storage: SQLStorage, lease_seconds: float, models: ModelManager | None = None
    ) -> None:
        self.storage = storage
        self.lease_seconds = lease_seconds
        self.models = models
        self.runtimes: dict[str, StudyRuntime] = {}
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="archsampler-writer", daemon=True)
        self._thread.start()

    # -- API (any thread) -----------------------------------------------------------------
    def propose(
        self,
        study: str,
        count: int,
        client_id: str,
        request_id: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Waiter:
        """Queue a proposal; its future (on `loop` when given) resolves after commit."""
        req = ProposeRequest(study, count, client_id, request_id, _waiter(loop))
        self._queue.put(req)
        return req.future

    def report(
        self, trial_id: int, outcome: Outcome, loop: asyncio.AbstractEventLoop | None = None
    ) -> Waiter:
        """Queue a report; its future (on `loop` when given) resolves after commit."""
        req = ReportRequest(trial_id, outcome, _waiter(loop))
        self._queue.put(req)
        return req.future

    def step(
        self,
        trial_id: int,
        outcome: Outcome,
        study: str,
        count: int,
        client_id: str,
        request_id: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Waiter:
        """Queue a report and a proposal for one transaction (see `StepRequest`)."""
        req = StepRequest(
            ReportRequest(trial_id, outcome),
            ProposeRequest(study, count, client_id, request_id),
            _waiter(loop),
        )
        self._queue.put(req)
        return req.future

    def forget(self, study: str) -> None:
        """Drop a study's runtime (deleted, or to be rebuilt from storage)."""
        self._queue.put(("forget", study))

    def mark_pending_stale(self) -> None:
        """Reload pending trials from storage before the next proposal (leases expired)."""
        self._queue.put(("stale", None))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)

    # -- writer thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < MAX_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            control = [i for i in items if isinstance(i, tuple) or i is None]
            for item in control:
                if item is None:
                    continue
                if item[0] == "forget":
                    self.runtimes.pop(item[1], None)
                else:
                    for rt in self.runtimes.values():
                        rt.pending_stale = True
            work = [
                i for i in items if isinstance(i, (ProposeRequest, ReportRequest, StepRequest))
            ]
            if work:
                try:
                    self._commit(work)
                except Exception:  # noqa: BLE001 - the writer must survive anything
                    log.exception("writer: unexpected failure")
            if None in items:
                return

    def _commit(self, work: list[Any]) -> None:
        answers: list[tuple[Waiter, Any, bool]] = []
        touched: set[str] = set()
        try:
            with self.storage.batch() as batch:
                steps = [w for w in work if isinstance(w, StepRequest)]
                reports = [w for w in work if isinstance(w, ReportRequest)]
                reports += [w.report for w in steps]
                proposals = [w for w in work if isinstance(w, ProposeRequest)]
                if reports:
                    results = batch.finish([(r.trial_id, r.outcome) for r in reports])
                    for r, result in zip(reports, results, strict=True):
                        answers.append((r.future, result, isinstance(result, Exception)))
                    # The steps' reports are the tail of `reports`; a failed one proposes nothing.
                    step_results = results[len(reports) - len(steps) :]
                    proposals += [
                        step.propose
                        for step, result in zip(steps, step_results, strict=True)
                        if not isinstance(result, Exception)
                    ]
                by_study: dict[str, list[ProposeRequest]] = {}
                for w in proposals:
                    by_study.setdefault(w.study, []).append(w)
                for study, reqs in by_study.items():
                    touched.add(study)
                    answers.extend(self._propose_isolated(batch, study, reqs))
                if steps:
                    answers = _step_answers(answers, steps)
        except Exception as exc:  # noqa: BLE001 - the whole transaction rolled back
            log.exception("group commit of %d request(s) failed", len(work))
            for study in touched:
                self.runtimes.pop(study, None)  # in-memory state may be ahead of storage
            error = (
                exc
                if isinstance(exc, StorageError)
                else StorageError(
                    f"transaction failed and was rolled back: {type(exc).__name__}: {exc}"
                )
            )
            _answer_all([(w.future, error, True) for w in work])
            return
        _answer_all(answers)
        if self.models is not None:
            for study in {
                (t[0] if isinstance(t, tuple) else t).study_name
                for _, t, err in answers
                if not err and isinstance(t, (Trial, tuple))
            }:
                self.models.notify(study)

    def _runtime(self, batch: SQLBatch, study: str) -> StudyRuntime:
        rt = self.runtimes.get(study)
        row = batch.study(study)
        if rt is None or rt.created_at != row.created_at:
            rt = self.runtimes[study] = StudyRuntime.load(batch, study)
        return rt

    def _propose_isolated(
        self, batch: SQLBatch, study: str, reqs: list[ProposeRequest]
    ) -> list[tuple[Waiter, Any, bool]]:
        """Proposals for one study inside a savepoint: its failure leaves the batch intact."""
        try:
            with batch.savepoint():
                return self._propose_study(batch, study, reqs)
        except Exception as e:  # noqa: BLE001 - only this study's callers get the error
            self.runtimes.pop(study, None)
            if not isinstance(e, ArchSamplerError):
                log.exception("proposing for study %s failed", study)
            return [(r.future, e, True) for r in reqs]

    def _propose_study(
        self, batch: SQLBatch, study: str, reqs: list[ProposeRequest]
    ) -> list[tuple[Waiter, Any, bool]]:
        rt = self._runtime(batch, study)
        keyed = sorted({r.request_id for r in reqs if r.request_id})
        previous = batch.by_request(study, keyed) if keyed else {}
        answers: list[tuple[Waiter, Any, bool]] = []
        fresh: list[ProposeRequest] = []
        first: dict[str, ProposeRequest] = {}
        followers: list[ProposeRequest] = []
        for r in reqs:
            if r.request_id in previous:
                answers.append((r.future, previous[r.request_id], False))
            elif r.request_id and r.request_id in first:
                followers.append(r)  # the same retry twice in one batch
            else:
                first.setdefault(r.request_id, r) if r.request_id else None
                fresh.append(r)
        rt.sync(batch)
        self._refresh_model(rt)
        try:
            results = self._insert(batch, rt, fresh)
        except ExhaustedError:
            if len(fresh) == 1:
                raise
            results = {}
            for r in fresh:  # serve whoever can still be served
                try:
                    with batch.savepoint():
                        results.update(self._insert(batch, rt, [r]))
                except ExhaustedError as e:
                    rt.pending_stale = True
                    results[id(r)] = e
        for r in fresh:
            value = results[id(r)]
            answers.append((r.future, value, isinstance(value, Exception)))
        for r in followers:
            value = results[id(first[r.request_id])]
            answers.append((r.future, value, isinstance(value, Exception)))
        return answers

    def _refresh_model(self, rt: StudyRuntime) -> None:
        """Hand a new model version to the strategy (validated models only)."""
        handle = self.models.get(rt.name) if self.models is not None else None
        if handle is rt.model:
            return
        rt.model = handle
        if isinstance(rt.strategy, UsesModel):
            rt.strategy.set_model(handle if handle is not None and handle.validated else None)

    @staticmethod
    def _predict(rt: StudyRuntime, archs: list[Any]) -> list[float | None]:
        """The model's predictions; a failing model never fails a proposal."""
        try:
            return [float(v) for v in rt.model.predict(archs)]
        except Exception:  # noqa: BLE001 - logged; proposals go out without predictions
            log.exception("study %s: model v%s failed to predict", rt.name, rt.model.version)
            return [None] * len(archs)

    def _insert(
        self, batch: SQLBatch, rt: StudyRuntime, reqs: list[ProposeRequest]
    ) -> dict[int, Any]:
        """Propose and insert for all `reqs` at once; `{id(req): trials}`."""
        slots = [r for r in reqs for _ in range(r.count)]
        got: dict[int, list[Trial]] = {id(r): [] for r in reqs}
        for _ in range(INSERT_ATTEMPTS):
            proposals = rt.strategy.propose(len(slots), list(rt.pending.values()))
            predicted = [
                None if p.predicted_value is None else rt.sign * p.predicted_value
                for p in proposals
            ]
            if rt.model is not None and any(v is None for v in predicted):
                fill = self._predict(rt, [p.arch for p in proposals])
                predicted = [f if v is None else v for v, f in zip(predicted, fill, strict=True)]
            new = [
                NewTrial(
                    arch=rt.space.to_string(p.arch),
                    arch_hash=rt.space.canonical_hash(p.arch),
                    params=rt.space.to_params(p.arch),
                    predicted_value=v,
                    region=p.region,
                    client_id=r.client_id,
                    request_id=r.request_id or None,
                    lease_seconds=self.lease_seconds,
                )
                for p, r, v in zip(proposals, slots, predicted, strict=True)
            ]
            missing = []
            inserted = batch.insert(rt.name, new)
            for p, r, trial in zip(proposals, slots, inserted, strict=True):
                if trial is None:
                    missing.append(r)
                else:
                    rt.pending[trial.id] = p.arch
                    got[id(r)].append(trial)
            if not missing:
                return dict(got)
            # Another replica holds some of these architectures: reload pending, retry.
            slots = missing
            rt.pending_stale = True
            rt.sync(batch)
        raise ExhaustedError(
            f"study {rt.name!r}: could not find architectures that are not already pending "
            "elsewhere; retry"
        )
