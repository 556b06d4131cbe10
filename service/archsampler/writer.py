"""The writer: one thread applies queued reports and inserts, many per transaction.

Under load, many calls share a transaction (and its fsync), so throughput grows with the
number of clients instead of being capped by the disk. The writer runs no strategy: it
only queues, groups commits and answers each caller after the transaction holding its
write has committed. Strategies run in the proposal lanes (`lanes.py`).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from typing import Callable

from archsampler.errors import ArchSamplerError
from archsampler.errors import StorageError
from archsampler.futures import Answer
from archsampler.futures import Waiter
from archsampler.futures import answer_all
from archsampler.predictor.manager import ModelManager
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.trial import Outcome
from archsampler.trial import Trial

log = logging.getLogger(__name__)
MAX_BATCH = 512


@dataclass
class ReportOp:
    """A report; answered with the stored trial. With `then`, a successful report is handed
    to `then` after commit instead of being answered (a loop step's proposal follows)."""

    study: str
    trial_id: int
    outcome: Outcome
    future: Waiter
    then: Callable[[Trial], None] | None = None


@dataclass
class InsertOp:
    """New trials of one study; `future` gets `(trials, next_number)` after commit: each
    trial or None where its architecture was already live, and the study's next number."""

    study: str
    trials: list[NewTrial]
    future: Future


class Writer:
    """The only thread that writes reports and proposals."""

    def __init__(self, storage: SQLStorage, models: ModelManager | None = None) -> None:
        self.storage = storage
        self.models = models
        self._queue: queue.SimpleQueue[ReportOp | InsertOp | Future | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="archsampler-writer", daemon=True)
        self._thread.start()

    def put(self, op: ReportOp | InsertOp) -> None:
        self._queue.put(op)

    def insert(self, study: str, trials: list[NewTrial]) -> Future:
        op = InsertOp(study, trials, Future())
        self._queue.put(op)
        return op.future

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until everything queued so far is committed and answered."""
        done = Future()
        self._queue.put(done)
        done.result(timeout=timeout)

    def close(self) -> None:
        """Stop after everything queued so far is committed and answered."""
        self._queue.put(None)
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while True:
            ops = [self._queue.get()]
            while len(ops) < MAX_BATCH:
                try:
                    ops.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            work = [op for op in ops if isinstance(op, (ReportOp, InsertOp))]
            if work:
                try:
                    self._commit(work)
                except Exception:  # noqa: BLE001 - the writer must survive anything
                    log.exception("writer: unexpected failure")
            for op in ops:
                if isinstance(op, Future):  # a `flush` barrier
                    op.set_result(None)
            if None in ops:
                return

    def _commit(self, ops: list[ReportOp | InsertOp]) -> None:
        reports = [op for op in ops if isinstance(op, ReportOp)]
        inserts = [op for op in ops if isinstance(op, InsertOp)]
        answers: list[Answer] = []
        steps: list[tuple[Callable[[Trial], None], Trial]] = []
        try:
            with self.storage.batch() as batch:
                results = batch.finish([(r.study, r.trial_id, r.outcome) for r in reports])
                for r, result in zip(reports, results, strict=True):
                    failed = isinstance(result, Exception)
                    if r.then is not None and not failed:
                        steps.append((r.then, result))
                    else:
                        answers.append((r.future, result, failed))
                for op in inserts:
                    try:
                        with batch.savepoint():  # its failure leaves the batch intact
                            made = batch.insert(op.study, op.trials)
                            answers.append(
                                (op.future, (made, batch.study(op.study).next_number), False)
                            )
                    except Exception as e:  # noqa: BLE001 - only this insert's caller gets it
                        if not isinstance(e, ArchSamplerError):
                            log.exception("inserting trials of study %s failed", op.study)
                        answers.append((op.future, e, True))
        except Exception as exc:  # noqa: BLE001 - the whole transaction rolled back
            log.exception("group commit of %d request(s) failed", len(ops))
            error = (
                exc
                if isinstance(exc, StorageError)
                else StorageError(
                    f"transaction failed and was rolled back: {type(exc).__name__}: {exc}"
                )
            )
            answer_all([(op.future, error, True) for op in ops])
            return
        answer_all(answers)
        for then, trial in steps:
            try:
                then(trial)
            except Exception:  # noqa: BLE001 - the writer must survive anything
                log.exception("writer: handing a step's proposal on failed")
        if self.models is not None:
            self._notify(reports, results, inserts)

    def _notify(
        self, reports: list[ReportOp], results: list[Any], inserts: list[InsertOp]
    ) -> None:
        """Tell the model manager which studies got new trials (it may start a training)."""
        studies = {
            r.study for r, res in zip(reports, results, strict=True) if isinstance(res, Trial)
        }
        studies |= {op.study for op in inserts}
        for study in studies:
            self.models.notify(study)
