"""Short calls first: bulk work steps aside while a Report or Heartbeat is in flight.

Everything in the server shares one interpreter lock and, on a small machine, a few
cores. A large Propose (1,000 trials: rows to build, hints to find, messages to encode)
is bulk work that nobody waits for by the millisecond; a Report is a trainer blocked
until it is committed. Bulk loops therefore iterate through `stepping(items)`, which
calls `yield_to_short()` after every `SLICE` items: while short calls are in flight it
sleeps (freeing the lock and the core) until they are answered, at most `MAX_WAIT` per
call, so bulk work always progresses. Only the gRPC servicer counts short calls (an
embedded `Engine` has no neighbours to wait for).
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
"""Longest one `yield_to_short` waits (s): under a steady stream of short calls, bulk
work still gets a slice every `MAX_WAIT`."""
POLL = 0.0002
SLICE = 32
"""Items (trials) a bulk loop handles between two `yield_to_short` calls (~1-3 ms)."""


class ShortCalls:
    """Counts the short calls in flight (any thread)."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

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

    def yield_to_short(self, max_wait: float = MAX_WAIT) -> None:
        """Sleep while short calls are in flight, at most `max_wait` seconds."""
        if not self._n:
            return
        deadline = time.perf_counter() + max_wait
        while self._n and time.perf_counter() < deadline:
            time.sleep(POLL)


SHORT = ShortCalls()
"""The process's short calls (one interpreter lock: one count)."""


def stepping(items: Iterable[T], every: int = SLICE) -> Iterator[T]:
    """`items`, stepping aside for short calls after every `every` of them (never before
    the first nor after the last)."""
    for i, item in enumerate(items):
        if i and not i % every:
            SHORT.yield_to_short()
        yield item
