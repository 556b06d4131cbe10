"""The writer: one thread applies queued reports and inserts, many per transaction.

Under load, many calls share a transaction (and its fsync), so throughput grows with the
number of clients instead of being capped by the disk. The writer runs no strategy: it
only queues, groups commits and answers each caller after the transaction holding its
write has committed. Strategies run in the proposal lanes (`lanes.py`).

Reports never wait behind a large insert: an insert of more than `CHUNK` trials (a
round of many trainers' Proposes) is committed `CHUNK` trials per transaction, and
everything queued meanwhile (reports, small inserts) commits in its own transaction
between two chunks. A large Propose's insert (bulk work, `priority`: a `Propose(1000)`)
goes `BULK_CHUNK` trials per transaction, paced while other studies report: a chunk that
took `w` seconds is followed, before its insert's next chunk, by a pause of up to
`w * (1 / bulk_share - 1)`, during which queued reports still commit. The insert's caller
is answered once its last chunk has committed, with all its trials, or with the error of
the chunk that failed (the chunks before it stay committed as PENDING trials under their
request id: a retry with that id gets them plus the rest, see `lanes.py`; without one they
are like trials whose answer was lost, freed by their lease).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable

from archsampler.errors import ArchSamplerError
from archsampler.errors import StorageError
from archsampler.futures import Answer
from archsampler.futures import Waiter
from archsampler.futures import answer_all
from archsampler.predictor.manager import ModelManager
from archsampler.priority import SHORT
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.trial import TrialState

log = logging.getLogger(__name__)
MAX_BATCH = 512
CHUNK = 100
"""Trials per transaction of a large insert: what a report may wait behind (~2-5 ms)."""
BULK_CHUNK = 25
"""Trials per transaction of a large Propose's insert (bulk work, `priority`), paced."""


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
    bulk: bool = False  # a large Propose's: smaller chunks, paced (`priority`)
    made: list[Trial | None] = field(default_factory=list)  # committed chunks' results

    @property
    def chunk(self) -> int:
        return BULK_CHUNK if self.bulk else CHUNK


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

    def insert(self, study: str, trials: list[NewTrial], bulk: bool = False) -> Future:
        op = InsertOp(study, trials, Future(), bulk)
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
        # Large inserts in progress, with the barriers (`flush`, `close`) queued behind them.
        large: deque[InsertOp | Future | None] = deque()
        resume = 0.0  # the next chunk starts no earlier (paced: `priority`)
        while True:
            ops = [] if large else [self._queue.get()]
            wait = resume - time.perf_counter()
            if large and wait > 0:  # paced: commit what comes meanwhile
                try:
                    ops.append(self._queue.get(timeout=wait))
                except queue.Empty:
                    pass
            while len(ops) < MAX_BATCH:
                try:
                    ops.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            work: list[ReportOp | InsertOp] = []
            barriers: list[Future | None] = []
            for op in ops:
                if isinstance(op, ReportOp) or (
                    isinstance(op, InsertOp) and len(op.trials) <= op.chunk
                ):
                    work.append(op)
                elif isinstance(op, InsertOp) or large:
                    large.append(op)  # a barrier waits for the large inserts before it
                else:
                    barriers.append(op)
            if work:
                try:
                    self._commit(work)
                except Exception:  # noqa: BLE001 - the writer must survive anything
                    log.exception("writer: unexpected failure")
            for op in barriers:
                if op is None:
                    return
                op.set_result(None)
            while large and not isinstance(large[0], InsertOp):
                op = large.popleft()
                if op is None:
                    return
                op.set_result(None)
            if large and time.perf_counter() >= resume:
                head = large[0]
                assert isinstance(head, InsertOp)  # barriers before it were answered above
                started = time.perf_counter()
                try:
                    if self._commit_chunk(head):
                        large.popleft()
                except Exception as e:  # noqa: BLE001 - the writer must survive anything
                    log.exception("writer: unexpected failure")
                    failed = large.popleft()
                    if isinstance(failed, InsertOp):  # never left unanswered
                        error = StorageError(f"inserting trials failed: {e!r}")
                        answer_all([(failed.future, error, True)])
                if head.bulk and large and large[0] is head:  # paced between its own chunks
                    now = time.perf_counter()
                    resume = now + SHORT.pause_for(head.study, now - started)

    def _commit_chunk(self, op: InsertOp) -> bool:
        """Commit the next `op.chunk` trials of a large insert in their own transaction;
        whether its caller has been answered (all committed, or this chunk failed)."""
        part = op.trials[len(op.made) : len(op.made) + op.chunk]
        try:
            with self.storage.batch() as batch:
                made = batch.insert(op.study, part)
                next_number = batch.study(op.study).next_number
        except Exception as e:  # noqa: BLE001 - rolled back: only this insert's caller gets it
            if not isinstance(e, ArchSamplerError):
                log.exception("inserting trials of study %s failed", op.study)
                e = StorageError(
                    f"transaction failed and was rolled back: {type(e).__name__}: {e}"
                )
            answer_all([(op.future, e, True)])
            return True
        op.made += made
        if len(op.made) < len(op.trials):
            return False
        answer_all([(op.future, (op.made, next_number), False)])
        return True  # proposals complete nothing: no model to train

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
            self._notify(reports, results)

    def _notify(self, reports: list[ReportOp], results: list[Any]) -> None:
        """Tell the model manager which studies got newly completed trials (it may start a
        training); proposals and failures cannot make one due, so they cost nothing."""
        studies = {
            r.study
            for r, res in zip(reports, results, strict=True)
            if isinstance(res, Trial) and res.state == TrialState.COMPLETED
        }
        for study in studies:
            self.models.notify(study)
