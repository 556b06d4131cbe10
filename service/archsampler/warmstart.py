"""Warm-start hints (AlphaX's transfer learning): each proposal carries the nearest evaluated
architecture of its study and the checkpoint reported with it, so a trainer can start from
those weights instead of from scratch.

* Evaluated = COMPLETED: reported or told (imported, seeded) with a value. FAILED,
  INFEASIBLE, PENDING and STALE trials never serve as hints.
* Distance = how many decisions differ: positions of the space's fixed-length token
  sequence (`space.to_tokens`, one position per decision) whose tokens differ, i.e. the
  fewest single-decision edits turning one architecture into the other.
* Ties go to the better value (the study's goal), then to the lower trial id.
* Bound: a study's index keeps the `SCAN_LIMIT` most recently completed trials (a ring of
  token columns); a hint is one vectorised comparison against it, on the proposal lane's
  thread, never on the event loop, and a round spends at most `MAX_WORK` token comparisons
  (a large Propose scans fewer, the most recent, trials). `ARCHSAMPLER_WARM_START_SCAN`
  sets the limit (0 turns hints off).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections import OrderedDict
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.futures import Answer
from archsampler.priority import SLICE
from archsampler.priority import bulk_of
from archsampler.priority import stepping
from archsampler.trial import Trial
from archsampler.trial import TrialState
from archsampler.trial import WarmStart

log = logging.getLogger(__name__)
MAX_SCAN = 1_000_000
MAX_STUDIES = 256  # indexes kept (least recently used dropped; rebuilt from storage)


def _scan_limit() -> int:
    raw = os.environ.get("ARCHSAMPLER_WARM_START_SCAN", "10000")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ARCHSAMPLER_WARM_START_SCAN must be an integer, got {raw!r}") from None
    if not 0 <= value <= MAX_SCAN:
        raise ValueError(f"ARCHSAMPLER_WARM_START_SCAN must be in 0..{MAX_SCAN}, got {value}")
    return value


SCAN_LIMIT = _scan_limit()
MAX_WORK = 1 << 26
"""Token comparisons one proposal round may spend on hints (~50 ms here): a Propose(count)
scans the max(MIN_SCAN, MAX_WORK / (count x decisions)) most recent indexed trials."""
MIN_SCAN = 1024
CHUNK = 1 << 22  # query x trial cells per numpy step (bounds the temporary arrays)


class WarmIndex:
    """The most recent `limit` COMPLETED trials of one study, as a ring of token columns."""

    def __init__(self, created_at: float, length: int, limit: int, vocab: int = 1 << 15) -> None:
        self.created_at = created_at
        self.dtype = np.int16 if vocab <= 1 << 15 else np.int32  # 2 bytes per decision
        self.limit = limit
        self.seq = 0  # the study revision read up to
        self.n = 0  # rows filled
        self.pos = 0  # next row to overwrite once full
        cap = min(limit, 1024)
        self.tokens = np.zeros((length, cap), dtype=self.dtype)  # one row per decision
        self.ids = np.zeros(cap, dtype=np.int64)
        self.scores = np.zeros(cap)  # values times the goal's sign: higher is better
        self.rows: list[tuple[str, str, float]] = []  # (arch text, checkpoint uri, value)

    def __len__(self) -> int:
        return self.n

    def _grow(self) -> None:
        cap = min(self.limit, 2 * len(self.ids))
        tokens = np.zeros((self.tokens.shape[0], cap), dtype=self.dtype)
        tokens[:, : self.n] = self.tokens[:, : self.n]
        self.tokens = tokens
        self.ids = np.concatenate([self.ids[: self.n], np.zeros(cap - self.n, np.int64)])
        self.scores = np.concatenate([self.scores[: self.n], np.zeros(cap - self.n)])

    def add(self, trial_id: int, tokens: Sequence[int], score: float, row: tuple) -> None:
        """Index a completed trial; the oldest one leaves once `limit` are held."""
        if self.n < self.limit:
            if self.n == len(self.ids):
                self._grow()
            i = self.n
            self.n += 1
            self.rows.append(row)
        else:
            i = self.pos
            self.pos = (self.pos + 1) % self.limit
            self.rows[i] = row
        self.tokens[:, i] = tokens
        self.ids[i] = trial_id
        self.scores[i] = score

    def recent(self, k: int) -> np.ndarray | slice:
        """The rows of the `k` most recently indexed trials (a slice when that is all)."""
        if k >= self.n:
            return slice(0, self.n)
        newest = (self.pos if self.n == self.limit else self.n) - 1
        return (newest - np.arange(k)) % self.n

    def nearest(self, queries: np.ndarray, bulk: str | None = None) -> list[tuple[int, int]]:
        """`(row, distance)` of the nearest indexed trial for each query token row (among
        the most recent ones the work budget allows, see `MAX_WORK`); `bulk`: the study
        whose bulk work this is (`priority.stepping`), or None."""
        length = self.tokens.shape[0]
        rows = self.recent(max(MIN_SCAN, MAX_WORK // max(1, len(queries) * length)))
        tokens, ids, scores = self.tokens[:, rows], self.ids[rows], self.scores[rows]
        index = None if isinstance(rows, slice) else rows  # local row -> ring row
        n = len(ids)
        order = np.lexsort((ids, -scores))  # ties: better value, then lower id
        step = max(1, min(SLICE, CHUNK // max(1, n)))
        out: list[tuple[int, int]] = []
        starts = range(0, len(queries), step)  # <= SLICE queries per step
        for start in stepping(starts, bulk, every=1):
            q = np.ascontiguousarray(queries[start : start + step].T)  # decisions x queries
            dist = np.zeros((q.shape[1], n), dtype=np.int16)
            for j in range(length):  # one decision at a time: long contiguous rows
                dist += tokens[j][None, :] != q[j][:, None]
            # the first of the nearest in (better value, lower id) order
            pick = order[dist[:, order].argmin(axis=1)]
            low = dist[np.arange(len(pick)), pick].tolist()
            rows_picked = (pick if index is None else index[pick]).tolist()
            out.extend(zip(rows_picked, low, strict=True))
        return out


class WarmStarts:
    """Per-study indexes, synced and queried by the proposal lanes (one lane per study, so a
    study's index is only ever touched by one thread at a time)."""

    def __init__(self, limit: int = SCAN_LIMIT) -> None:
        self.limit = limit
        self._indexes: OrderedDict[str, WarmIndex] = OrderedDict()
        self._lock = threading.Lock()

    def _index(self, rt: Any) -> WarmIndex:
        with self._lock:
            index = self._indexes.get(rt.name)
            if index is None or index.created_at != rt.created_at:
                spec = rt.space.token_spec()
                index = WarmIndex(rt.created_at, spec.length, self.limit, spec.vocab_size)
                self._indexes[rt.name] = index
            self._indexes.move_to_end(rt.name)
            while len(self._indexes) > MAX_STUDIES:
                self._indexes.popitem(last=False)
            return index

    def sync(self, batch: Any, rt: Any) -> None:
        """Index the study's trials completed since the last sync (`batch`: the lane's read
        transaction; `rt`: the study's `StudyRuntime`). A failure drops the index (rebuilt
        on the next round) and never fails the proposal."""
        if not self.limit:
            return
        index = self._index(rt)
        try:
            rows, seq = batch.completed_rows(rt.name, index.seq, self.limit)
            for trial_id, text, value, uri in rows:
                tokens = rt.space.to_tokens(rt.parse(text))
                index.add(trial_id, tokens, rt.sign * value, (text, uri, value))
            index.seq = seq
        except Exception:  # noqa: BLE001 - hints are optional; logged
            log.exception("study %s: warm-start index failed; rebuilding it", rt.name)
            self.forget(rt.name)

    def forget(self, study: str) -> None:
        with self._lock:
            self._indexes.pop(study, None)

    def hints(
        self, rt: Any, trials: Sequence[Trial], bulk: str | None = None
    ) -> list[WarmStart | None]:
        """The hint of each trial's architecture (None while nothing was evaluated);
        `bulk` as in `priority.stepping`."""
        with self._lock:
            index = self._indexes.get(rt.name) if self.limit else None
        if index is None or not len(index) or not trials:
            return [None] * len(trials)
        tokens = [rt.space.to_tokens(_arch(rt, t)) for t in stepping(trials, bulk)]
        queries = np.array(tokens, index.dtype)
        out: list[WarmStart | None] = []
        for row, distance in index.nearest(queries, bulk):
            text, uri, value = index.rows[row]
            out.append(WarmStart(int(index.ids[row]), text, int(distance), uri, value))
        return out

    def attach(self, rt: Any, answers: list[Answer]) -> list[Answer]:
        """`answers` of a proposal round with a hint on every PENDING proposed trial (a
        failure is logged and the answers go out without hints)."""
        if not self.limit or rt is None:
            return answers
        try:
            return self._attach(rt, answers)
        except Exception:  # noqa: BLE001 - hints are optional; logged
            log.exception("study %s: warm-start hints failed", rt.name)
            return answers

    def _attach(self, rt: Any, answers: list[Answer]) -> list[Answer]:
        trials = [t for _, value, failed in answers if not failed for t in _proposed(value)]
        trials = [t for t in trials if t.state == TrialState.PENDING]
        if not trials:
            return answers
        bulk = bulk_of(rt.name, (len(_proposed(v)) for _, v, failed in answers if not failed))
        pairs = zip(trials, self.hints(rt, trials, bulk), strict=True)
        hinted = {
            t.id: dataclasses.replace(t, warm_start=h)
            for t, h in stepping(pairs, bulk)  # steps aside for Reports
            if h is not None
        }
        if not hinted:
            return answers
        return [
            (future, value if failed else _replace(value, hinted), failed)
            for future, value, failed in answers
        ]


def _arch(rt: Any, trial: Trial) -> Any:
    """A proposed trial's architecture: the runtime's own object (no parse) when pending."""
    arch = rt.pending.get(trial.id)
    return rt.parse(trial.arch) if arch is None else arch


def _proposed(value: Any) -> list[Trial]:
    """The proposed trials of an answer: a list of trials, or (reported, trials)."""
    return value[1] if isinstance(value, tuple) else value


def _replace(value: Any, hinted: dict[int, Trial]) -> Any:
    if isinstance(value, tuple):
        return (value[0], [hinted.get(t.id, t) for t in value[1]])
    return [hinted.get(t.id, t) for t in value]
