"""Short calls first (`archsampler.priority`): bulk work waits while a short call is in
flight, never longer than its bound, and `stepping` gives every item once."""

from __future__ import annotations

import threading
import time

import pytest

from archsampler import priority
from archsampler.priority import ShortCalls


def test_bulk_waits_while_a_short_call_runs_and_goes_on_when_it_ends() -> None:
    calls = ShortCalls()
    started, release = threading.Event(), threading.Event()

    def short_call() -> None:
        with calls.running():
            started.set()
            release.wait(5)

    thread = threading.Thread(target=short_call)
    thread.start()
    started.wait(5)
    assert calls.in_flight == 1
    t0 = time.perf_counter()
    calls.yield_to_short(max_wait=0.05)  # still in flight: waits the whole bound
    assert time.perf_counter() - t0 >= 0.05
    threading.Timer(0.02, release.set).start()
    t0 = time.perf_counter()
    calls.yield_to_short(max_wait=5.0)  # returns once the call ends, not after 5 s
    assert time.perf_counter() - t0 < 2.0
    thread.join(5)
    assert calls.in_flight == 0


def test_a_failing_short_call_is_not_counted_forever() -> None:
    calls = ShortCalls()
    with pytest.raises(ValueError), calls.running():
        raise ValueError("refused")
    assert calls.in_flight == 0
    t0 = time.perf_counter()
    calls.yield_to_short(max_wait=5.0)
    assert time.perf_counter() - t0 < 1.0


def test_stepping_gives_every_item_once_and_steps_aside_between_slices(monkeypatch) -> None:
    yields: list[int] = []
    monkeypatch.setattr(priority.SHORT, "yield_to_short", lambda: yields.append(1))
    n = 3 * priority.SLICE + 5
    assert list(priority.stepping(range(n))) == list(range(n))
    assert len(yields) == 3  # between the 4 slices, not before the first
    assert list(priority.stepping([])) == [] and len(yields) == 3
    assert list(priority.stepping("abc", every=1)) == ["a", "b", "c"]
    assert len(yields) == 5  # between every two items, not after the last
