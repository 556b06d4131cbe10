"""Proposal lanes: each study's proposals run in its own lane, off the writer thread.

A lane serialises one study's proposals (its strategy is not thread-safe); lanes of
different studies run in parallel on a bounded pool, so a slow study (a huge `candidates`,
a constrained space being exhausted) never delays another study's calls. A round of a
lane takes every queued request of its study, syncs the study's runtime through a READ
transaction, runs the strategy with no transaction open, and hands the writer only the
insert. An architecture another replica made live meanwhile comes back as a conflict: the
lane reloads the pending trials and proposes again. Callers are answered after commit.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from archsampler.errors import ArchSamplerError
from archsampler.errors import ExhaustedError
from archsampler.futures import Answer
from archsampler.futures import Waiter
from archsampler.futures import answer_all
from archsampler.predictor.manager import ModelManager
from archsampler.priority import bulk_of
from archsampler.priority import stepping
from archsampler.runtime import StudyRuntime
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.strategies.base import Proposal
from archsampler.strategy_hosts import HostDiedError
from archsampler.strategy_hosts import StrategyHosts
from archsampler.trial import Trial
from archsampler.warmstart import WarmStarts
from archsampler.writer import Writer

log = logging.getLogger(__name__)
MAX_ROUND = 512  # requests per round
INSERT_ATTEMPTS = 3
LANE_WORKERS = 8  # studies proposing at the same time
LANE_NICENESS = 10  # lane threads yield the CPU to the event loop and the writer
SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold the GIL while others wait (Python's default: 0.005). A lane
running a CPU-bound strategy then delays the writer and the event loop by at most this
much each time they need the GIL, instead of 5 ms."""


def _lower_priority() -> None:
    """Run this lane thread at niceness +10 (Linux nice is per thread): on a busy host the
    event loop and the writer, which answer every study, are scheduled first."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LANE_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not permitted: same priority
        pass


@dataclass
class ProposeRequest:
    """A proposal; answered with its trials, or `(reported, trials)` for a loop step."""

    study: str
    count: int
    client_id: str
    request_id: str
    future: Waiter
    reported: Trial | None = None
    # Trials an earlier call with this request id got committed before it was cut short
    # (a large insert commits in chunks): this call proposes only the rest.
    earlier: list[Trial] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.count - len(self.earlier)

    def answer(self, value: Any, failed: bool) -> Answer:
        if not failed and self.earlier:
            value = self.earlier + value
        if failed or self.reported is None:
            return (self.future, value, failed)
        return (self.future, (self.reported, value), False)


@dataclass
class Lane:
    study: str
    queue: list[ProposeRequest] = field(default_factory=list)
    running: bool = False
    runtime: StudyRuntime | None = None
    reset: bool = False  # drop the runtime before the next round (study deleted)


class Lanes:
    """Per-study proposal lanes over a bounded pool of threads."""

    def __init__(
        self,
        storage: SQLStorage,
        writer: Writer,
        lease_seconds: float,
        models: ModelManager | None = None,
        workers: int = LANE_WORKERS,
        strategy_processes: int = 0,
    ) -> None:
        self.storage = storage
        self.writer = writer
        self.lease_seconds = lease_seconds
        self.models = models
        self.stale_generation = 0
        self.conflicts = 0  # inserts that met an architecture made live elsewhere
        self.warm = WarmStarts()  # warm-start hints on proposed trials
        # strategies in host processes (`strategy_hosts`), or in the lane threads (None)
        self.hosts = StrategyHosts(strategy_processes) if strategy_processes else None
        self._lanes: dict[str, Lane] = {}
        self._lock = threading.Lock()
        # strategies in hosts: the lane threads only hand work on, and a lane thread at a
        # lower priority holding the interpreter lock would hold up the event loop
        self._pool = ThreadPoolExecutor(
            workers,
            thread_name_prefix="archsampler-lane",
            initializer=_lower_priority if strategy_processes == 0 else None,
        )
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)

    # -- any thread -------------------------------------------------------------------------
    def submit(self, req: ProposeRequest) -> None:
        with self._lock:
            lane = self._lanes.get(req.study)
            if lane is None:
                lane = self._lanes[req.study] = Lane(req.study)
            lane.queue.append(req)
            if lane.running:
                return
            lane.running = True
        self._pool.submit(self._run, lane)

    @property
    def studies(self) -> int:
        """How many studies have a lane (a runtime or queued work)."""
        with self._lock:
            return len(self._lanes)

    def forget(self, study: str) -> None:
        """Rebuild the study's runtime from storage before its next round."""
        with self._lock:
            lane = self._lanes.get(study)
            if lane is not None:
                lane.reset = True

    def mark_pending_stale(self) -> None:
        """Every runtime reloads its pending trials before its next proposal."""
        with self._lock:
            self.stale_generation += 1

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until no lane has work (the writer must still be running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(lane.running for lane in self._lanes.values()):
                    return
            time.sleep(0.005)

    def close(self) -> None:
        """Finish every queued round (the writer must still be running), then stop."""
        self._pool.shutdown(wait=True)
        if self.hosts is not None:
            self.hosts.close()

    # -- lane threads -----------------------------------------------------------------------
    def _run(self, lane: Lane) -> None:
        while True:
            with self._lock:
                reqs, lane.queue = lane.queue[:MAX_ROUND], lane.queue[MAX_ROUND:]
            try:
                try:
                    answers = self._round(lane, reqs)
                except HostDiedError:  # its strategy is gone: rebuild it on a new host, once
                    log.warning("study %s: strategy host died; rebuilding", lane.study)
                    lane.runtime = None
                    answers = self._round(lane, reqs)
                answers = self.warm.attach(lane.runtime, answers)
            except Exception as e:  # noqa: BLE001 - only this study's callers get the error
                if not isinstance(e, ArchSamplerError):
                    log.exception("proposing for study %s failed", lane.study)
                    lane.runtime = None  # its state may be inconsistent: rebuild it
                answers = [r.answer(e, True) for r in reqs]
            answer_all(answers)
            with self._lock:
                if not lane.queue:
                    lane.running = False
                    if lane.runtime is None:  # e.g. no such study: keep no state for it
                        self._lanes.pop(lane.study, None)
                    return
            try:  # more work: to the back of the pool's queue, fair to other studies
                self._pool.submit(self._run, lane)
                return
            except RuntimeError:
                pass  # closing: finish it here

    def _round(self, lane: Lane, reqs: list[ProposeRequest]) -> list[Answer]:
        with self.storage.read_batch() as rb:
            row = rb.study(lane.study)
            rt = lane.runtime
            if lane.reset or rt is None or rt.created_at != row.created_at:
                lane.reset = False
                lane.runtime = None
                rt = StudyRuntime.load(rb, lane.study, self.hosts)
            keyed = sorted({r.request_id for r in reqs if r.request_id})
            previous = rb.by_request(lane.study, keyed) if keyed else {}
            rt.sync(rb, self.stale_generation)
            self.warm.sync(rb, rt)
            lane.runtime = rt
            next_number = row.next_number
        answers: list[Answer] = []
        fresh: list[ProposeRequest] = []
        first: dict[str, ProposeRequest] = {}
        followers: list[ProposeRequest] = []
        for r in reqs:
            if r.request_id in previous and len(previous[r.request_id]) >= r.count:
                answers.append(r.answer(previous[r.request_id], False))
            elif r.request_id and r.request_id in first:
                r.earlier = first[r.request_id].earlier
                followers.append(r)  # the same retry twice in one round
            else:
                if r.request_id:
                    first[r.request_id] = r
                    r.earlier = previous.get(r.request_id, [])  # cut short: propose the rest
                fresh.append(r)
        if not fresh:
            return answers
        self._refresh_model(rt)
        results = self._fill(rt, fresh, next_number)
        for r in fresh:
            value = results[id(r)]
            answers.append(r.answer(value, isinstance(value, Exception)))
        for r in followers:
            value = results[id(first[r.request_id])]
            answers.append(r.answer(value, isinstance(value, Exception)))
        return answers

    def _fill(
        self, rt: StudyRuntime, reqs: list[ProposeRequest], next_number: int
    ) -> dict[int, Any]:
        """Trials for every request, `{id(req): trials or error}`; when not all can be
        served, each in turn gets what is left."""
        try:
            return self._insert(rt, reqs, next_number)[0]
        except ExhaustedError as e:
            if len(reqs) == 1:
                return {id(reqs[0]): e}
        results: dict[int, Any] = {}
        for r in reqs:
            try:
                got, next_number = self._insert(rt, [r], next_number)
                results.update(got)
            except ExhaustedError as e:
                rt.pending_stale = True
                results[id(r)] = e
        return results

    def _refresh_model(self, rt: StudyRuntime) -> None:
        """Hand a new model version to the strategy (validated models only)."""
        handle = self.models.get(rt.name) if self.models is not None else None
        if handle is rt.model:
            return
        rt.model = handle
        if rt.strategy.uses_model:
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
        self, rt: StudyRuntime, reqs: list[ProposeRequest], next_number: int
    ) -> tuple[dict[int, list[Trial]], int]:
        """Propose for all `reqs` at once and have the writer insert them; `({id(req):
        trials}, the study's next number after the insert)`."""
        slots = [r for r in reqs for _ in range(r.missing)]
        bulk = bulk_of(rt.name, (r.count for r in reqs))
        got: dict[int, list[Trial]] = {id(r): [] for r in reqs}
        for _ in range(INSERT_ATTEMPTS):
            rt.reseed(next_number)
            queue = list(rt.queued.items())[: len(slots)]  # enqueued / retries come first
            proposals = [Proposal(arch) for _, arch in queue]
            if len(slots) > len(queue):
                avoid = [*rt.pending.values(), *rt.queued.values()]
                proposals += rt.strategy.propose(len(slots) - len(queue), avoid)
            predicted = [
                None if p.predicted_value is None else rt.sign * p.predicted_value
                for p in proposals
            ]
            if rt.model is not None and any(v is None for v in predicted):
                fill = self._predict(rt, [p.arch for p in proposals])
                predicted = [f if v is None else v for v, f in zip(predicted, fill, strict=True)]
            rows = enumerate(zip(proposals, slots, predicted, strict=True))
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
                    queued_id=queue[i][0] if i < len(queue) else None,
                )
                for i, (p, r, v) in stepping(rows, bulk)  # steps aside for Reports
            ]
            for trial_id, _ in queue:  # taken now, or by another replica: not again
                rt.queued.pop(trial_id, None)
            try:
                done = self.writer.insert(rt.name, new, bulk=bulk is not None)
                inserted, next_number = done.result()
            except Exception:
                rt.pending_stale = True  # a large insert may have committed some chunks
                raise
            missing = []
            for p, r, trial in zip(proposals, slots, inserted, strict=True):
                if trial is None:
                    missing.append(r)
                else:
                    rt.pending[trial.id] = p.arch
                    got[id(r)].append(trial)
            if not missing:
                return got, next_number
            # Another replica holds some of these architectures: reload pending, retry.
            self.conflicts += 1
            slots = missing
            rt.pending_stale = True
            with self.storage.read_batch() as rb:
                rt.sync(rb)
        raise ExhaustedError(
            f"study {rt.name!r}: could not find architectures that are not already pending "
            "elsewhere; retry"
        )
