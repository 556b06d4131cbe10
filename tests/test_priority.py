"""Short calls first (`archsampler.priority`): bulk work waits while a short call is in
flight, never longer than its bound; it is paced only while *another* study reports, by
its share and never past `MAX_PAUSE`; `stepping` gives every item once."""

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
    steps: list[tuple[str, float]] = []
    monkeypatch.setattr(priority.SHORT, "step_aside", lambda s, w: steps.append((s, w)))
    n = 3 * priority.SLICE + 5
    assert list(priority.stepping(range(n), "a")) == list(range(n))
    assert len(steps) == 3  # between the 4 slices, not before the first
    assert list(priority.stepping([], "a")) == [] and len(steps) == 3
    assert list(priority.stepping("abc", "b", every=1)) == ["a", "b", "c"]
    assert len(steps) == 5  # between every two items, not after the last
    assert [s for s, _ in steps] == ["a"] * 3 + ["b"] * 2
    assert list(priority.stepping(range(n), None)) == list(range(n))  # not bulk work
    assert len(steps) == 5


def test_stepping_hands_on_the_time_the_loop_body_took(monkeypatch) -> None:
    steps: list[float] = []
    monkeypatch.setattr(priority.SHORT, "step_aside", lambda s, w: steps.append(w))
    for _ in priority.stepping(range(4), "a", every=2):
        time.sleep(0.01)
    assert len(steps) == 1 and steps[0] >= 0.02  # two items' work, 10 ms each


def test_only_another_studys_recent_short_call_counts_whatever_the_order() -> None:
    calls = ShortCalls()
    assert not calls.others_reporting("a")  # nobody reported yet
    calls.stamp("a")
    assert not calls.others_reporting("a")  # its own Reports never pace a study
    assert calls.others_reporting("b")
    calls.stamp("b")
    calls.stamp("b")  # the latest of another study than b is still a's
    assert calls.others_reporting("a") and calls.others_reporting("b")
    assert calls.others_reporting("c")
    time.sleep(priority.RECENT * 1.5)
    assert not any(calls.others_reporting(s) for s in "abc")  # only recent ones count
    for study in [f"s{i}" for i in range(10_000)]:  # O(1) memory, whatever the studies
        calls.stamp(study)
    assert calls.others_reporting("s9999") and calls.others_reporting("s0")


def test_pacing_takes_the_share_never_pauses_past_its_bound_and_can_be_off() -> None:
    calls = ShortCalls(bulk_share=0.25)
    assert calls.pause_for("bulk", 0.004) == 0.0  # nobody else reports: no pause
    calls.stamp("other")
    assert calls.pause_for("bulk", 0.004) == pytest.approx(0.012)  # 4 ms of 16 ms: 1/4
    assert calls.pause_for("bulk", 1.0) == priority.MAX_PAUSE
    assert calls.pause_for("other", 0.004) == 0.0  # its own stamp does not pace it
    calls.bulk_share = 1.0
    assert calls.pause_for("bulk", 0.004) == 0.0
    calls.bulk_share = 0.5
    t0 = time.perf_counter()
    calls.step_aside("bulk", 0.02)  # paused 20 ms; no short call in flight: no wait
    assert 0.02 <= time.perf_counter() - t0 < 0.02 + 0.5


def test_the_bulk_share_setting_is_bounded_and_read_from_the_environment(monkeypatch) -> None:
    import pydantic

    from archsampler.config import Settings

    assert Settings().bulk_share == priority.BULK_SHARE
    monkeypatch.setenv("ARCHSAMPLER_BULK_SHARE", "0.25")
    assert Settings().bulk_share == 0.25
    for bad in ("0", "-0.1", "1.5", "nan"):
        monkeypatch.setenv("ARCHSAMPLER_BULK_SHARE", bad)
        with pytest.raises(pydantic.ValidationError, match="bulk_share"):
            Settings()


def test_an_exhausted_refusal_is_late_only_while_another_study_reports() -> None:
    calls = ShortCalls()
    assert calls.refusal_pause("tight") == 0.0
    calls.stamp("tight")
    assert calls.refusal_pause("tight") == 0.0  # its own calls: answered at once
    calls.stamp("other")
    assert calls.refusal_pause("tight") == priority.REFUSAL_PAUSE < 0.1  # issue: <= 100 ms
    calls.bulk_share = 1.0
    assert calls.refusal_pause("tight") == 0.0  # pacing off


def test_only_a_propose_of_more_than_bulk_trials_is_bulk_work() -> None:
    assert priority.bulk_of("s", [1] * 512) is None  # a round of many small Proposes
    assert priority.bulk_of("s", [priority.BULK]) is None
    assert priority.bulk_of("s", [1, priority.BULK + 1]) == "s"
    assert priority.bulk_of("s", []) is None
