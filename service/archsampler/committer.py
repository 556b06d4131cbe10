"""Group commit with per-study proposal lanes: the queueing face of the study workflow.

Reports go straight to the writer (`writer.py`), which groups them with the lanes' inserts
into transactions. Proposals go to their study's lane (`lanes.py`), which runs the strategy
outside any write transaction. A loop step reports first; only a committed report sends its
proposal on to the lane, so a failed report proposes nothing and the proposal learns from
the report (two transactions: if the proposal fails, the report stays committed). Every
caller is answered only after the transaction that holds its write has committed.
"""

from __future__ import annotations

import asyncio

from archsampler.errors import StorageError
from archsampler.futures import Waiter
from archsampler.futures import answer_all
from archsampler.futures import waiter
from archsampler.lanes import Lanes
from archsampler.lanes import ProposeRequest
from archsampler.predictor.manager import ModelManager
from archsampler.storage import SQLStorage
from archsampler.trial import Outcome
from archsampler.trial import Trial
from archsampler.writer import ReportOp
from archsampler.writer import Writer

__all__ = ["GroupCommitter", "Waiter"]


class GroupCommitter:
    """Owns the writer thread and the proposal lanes (with the study runtimes)."""

    def __init__(
        self,
        storage: SQLStorage,
        lease_seconds: float,
        models: ModelManager | None = None,
        strategy_processes: int = 0,
    ) -> None:
        self.storage = storage
        self.writer = Writer(storage, models)
        self.lanes = Lanes(
            storage, self.writer, lease_seconds, models, strategy_processes=strategy_processes
        )

    def propose(
        self,
        study: str,
        count: int,
        client_id: str,
        request_id: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Waiter:
        """Queue a proposal; its future (on `loop` when given) resolves after commit."""
        req = ProposeRequest(study, count, client_id, request_id, waiter(loop))
        self.lanes.submit(req)
        return req.future

    def report(
        self,
        study: str,
        trial_id: int,
        outcome: Outcome,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Waiter:
        """Queue a report of a trial of `study`; its future resolves after commit."""
        op = ReportOp(study, trial_id, outcome, waiter(loop))
        self.writer.put(op)
        return op.future

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
        """Report a trial of `study`, then propose; resolves to `(reported, new trials)`,
        or to the report's error (nothing proposed) or the proposal's."""
        future = waiter(loop)

        def propose(reported: Trial) -> None:
            req = ProposeRequest(study, count, client_id, request_id, future, reported)
            try:
                self.lanes.submit(req)
            except RuntimeError:  # closing: the report is committed, the client may retry
                error = StorageError("the server is shutting down; retry the step elsewhere")
                answer_all([(future, error, True)])

        self.writer.put(ReportOp(study, trial_id, outcome, future, then=propose))
        return future

    def forget(self, study: str) -> None:
        """Drop a study's runtime (deleted, or to be rebuilt from storage)."""
        self.lanes.forget(study)

    def mark_pending_stale(self) -> None:
        """Reload pending trials from storage before the next proposal (leases expired)."""
        self.lanes.mark_pending_stale()

    def close(self) -> None:
        """Answer everything queued, then stop: the lanes' rounds (they need the writer),
        the writer's queue (a step's report hands its proposal to a lane), those rounds."""
        self.lanes.drain()
        self.writer.flush()
        self.lanes.close()
        self.writer.close()
