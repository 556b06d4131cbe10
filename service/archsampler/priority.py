"""Short calls first: a study's bulk work steps aside for other studies' Reports.

Everything in the server shares one interpreter lock and, on a small machine, a few
cores. A large Propose (1,000 trials: rows to build and commit, hints to find, messages
to encode) is work that nobody waits for by the millisecond; a Report is a trainer
blocked until it is committed. Bulk work is what a Propose of more than `BULK` trials
costs the server, and two rules keep the Reports fast:

- **Wait while short calls run.** Bulk loops iterate through `stepping(items, study)`,
  which after every `SLICE` items sleeps (freeing the lock and the core) while any
  Report or Heartbeat is in flight, at most `MAX_WAIT` per step.
- **Pace while others report.** While another study has made an authorized short call in
  the last `RECENT` seconds, a study's bulk work takes at most `bulk_share` of the
  wall-clock time (`ARCHSAMPLER_BULK_SHARE`): after a step that took `w` seconds it
  pauses `w * (1 / bulk_share - 1)` (at most `MAX_PAUSE`). A study alone on the server
  (or among idle ones) is never paced, and its own Reports never pace it. The writer
  paces a large Propose's insert chunks the same way (`Writer`), committing Reports
  between them, and a strategy host computing a large Propose is stopped between
  slices of its run (`strategy_hosts`). A Propose refused because the study's space is
  exhausted is then answered `REFUSAL_PAUSE` late, so a client retrying it in a loop
  cannot flood the server either.

Only the gRPC servicer counts and stamps short calls (an embedded `Engine` has no
neighbours to wait for). One interpreter lock: one `SHORT` per process.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterable
from typing import Iterator
from typing import TypeVar

T = TypeVar("T")
MAX_WAIT = 0.005
"""Longest one wait for in-flight short calls (s): under a steady stream of them, bulk work
still gets a step every `MAX_WAIT` (plus its pace)."""
POLL = 0.0002
SLICE = 32
"""Items (trials) a bulk loop handles between two steps aside (~1-3 ms)."""
BULK = SLICE
"""A Propose of more than this many trials is bulk work; a proposal round that batches
many trainers' small Proposes is not (they are waited for like Reports)."""
RECENT = 0.1
"""A study that made a short call within this many seconds is reporting (s)."""
MAX_PAUSE = 0.05
"""Longest one pace pause (s): a paced Propose always progresses."""
REFUSAL_PAUSE = 0.02
"""How late a Propose refused for an exhausted space is answered while another study
reports (s): a client that retries at once sends at most ~50 a second."""
BULK_SHARE = 0.1
"""Default share of wall-clock time a study's bulk work may take while another study
reports (`ARCHSAMPLER_BULK_SHARE`; 1 turns pacing off)."""


class ShortCalls:
    """Counts the short calls in flight and remembers which studies made one lately (any
    thread). It keeps the latest call and the latest one of a *different* study, so
    whether any study but S reported lately is O(1) whatever the number of studies."""

    def __init__(self, bulk_share: float = BULK_SHARE) -> None:
        self.bulk_share = bulk_share
        self._n = 0
        self._lock = threading.Lock()
        self._last: tuple[str | None, float] = (None, -1e9)  # latest short call's study
        self._other: tuple[str | None, float] = (None, -1e9)  # latest of another study

    @property
    def in_flight(self) -> int:
        return self._n

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._n += 1
        try:
            yield
        finally:
            with self._lock:
                self._n -= 1

    def stamp(self, study: str) -> None:
        """`study` made an authorized short call now."""
        now = time.perf_counter()
        with self._lock:
            if study != self._last[0]:
                self._other = self._last
            self._last = (study, now)

    def others_reporting(self, study: str) -> bool:
        """Whether a study other than `study` made a short call in the last `RECENT` s."""
        last, other = self._last, self._other
        seen = last[1] if last[0] != study else other[1]
        return time.perf_counter() - seen < RECENT

    def paced(self, study: str) -> bool:
        """Whether `study` is paced now: pacing is on and another study reports."""
        return self.bulk_share < 1.0 and self.others_reporting(study)

    def pause_for(self, study: str, worked: float) -> float:
        """Seconds `study`'s bulk work should pause after working `worked` seconds."""
        if worked <= 0 or not self.paced(study):
            return 0.0
        return min(worked * (1.0 / self.bulk_share - 1.0), MAX_PAUSE)

    def refusal_pause(self, study: str) -> float:
        """How late to answer `study`'s Propose refused for an exhausted space."""
        return REFUSAL_PAUSE if self.paced(study) else 0.0

    def yield_to_short(self, max_wait: float = MAX_WAIT) -> None:
        """Sleep while short calls are in flight, at most `max_wait` seconds."""
        if not self._n:
            return
        deadline = time.perf_counter() + max_wait
        while self._n and time.perf_counter() < deadline:
            time.sleep(POLL)

    def step_aside(self, study: str, worked: float) -> None:
        """Between two steps of `study`'s bulk work (the last took `worked` seconds): pace,
        then wait for the short calls in flight."""
        pause = self.pause_for(study, worked)
        if pause:
            time.sleep(pause)
        self.yield_to_short()


SHORT = ShortCalls()
"""The process's short calls (one interpreter lock: one count)."""


def bulk_of(study: str, counts: Iterable[int]) -> str | None:
    """`study` when the work at hand answers a Propose of more than `BULK` trials (its
    request counts, or answers' sizes), else None: the `study` argument of `stepping`."""
    return study if any(n > BULK for n in counts) else None


def stepping(items: Iterable[T], study: str | None, every: int = SLICE) -> Iterator[T]:
    """`items` of `study`'s bulk work, stepping aside after every `every` of them (never
    before the first nor after the last); with `study` None (not bulk work) they come
    straight."""
    if study is None:
        yield from items
        return
    started = time.perf_counter()
    for i, item in enumerate(items):
        if i and not i % every:
            SHORT.step_aside(study, time.perf_counter() - started)
            started = time.perf_counter()
        yield item
