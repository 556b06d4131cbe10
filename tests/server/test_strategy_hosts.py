"""Strategy hosts: long lists cross the pipe in parts and arrive whole (real host processes).

A Propose(1000) used to pickle its 1,000 pending architectures and unpickle 1,000 proposals
in one piece each, holding the server's interpreter lock 10-18 ms at a time (measured in
`bench isolation`); every other study's Report waited behind it. Lists longer than `PART`
now go in parts with a step aside between them. A hosted strategy must still answer
exactly what the same strategy answers in-process.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator

import pytest

from archsampler.bench.load import LOAD_SPACE
from archsampler.priority import BULK
from archsampler.priority import RECENT
from archsampler.priority import SHORT
from archsampler.spaces import make_space
from archsampler.strategies import make_strategy
from archsampler.strategies.base import Observation
from archsampler.strategy_hosts import PART
from archsampler.strategy_hosts import StrategyHosts
from archsampler.strategy_hosts import _Parts
from archsampler.strategy_hosts import _split

SEED = 5
SPEC = {"user": LOAD_SPACE}  # the 8^8 space of `bench isolation`


@pytest.fixture(scope="module")
def hosts() -> Iterator[StrategyHosts]:
    h = StrategyHosts(1)
    yield h
    h.close()


def test_a_long_list_is_pickled_in_parts_with_a_step_between_them() -> None:
    steps: list[int] = []
    items = list(range(10 * PART + 3))
    marker, blobs = _split(items, lambda: steps.append(1))
    assert isinstance(marker, _Parts) and marker.n == len(blobs) == 11
    assert len(steps) == len(blobs) - 1  # between parts, never before the first
    parts = [pickle.loads(b) for b in blobs]
    assert all(len(p) <= PART for p in parts)
    assert [x for p in parts for x in p] == items
    short = list(range(PART))
    assert _split(short, lambda: steps.append(1)) == (short, [])  # whole: no parts, no step
    assert _split("text", lambda: None) == ("text", [])


@pytest.mark.parametrize("name", ["random", "lanas"])
def test_a_hosted_strategy_answers_a_large_propose_as_in_process(
    hosts: StrategyHosts, name: str
) -> None:
    space = make_space(SPEC)
    local = make_strategy(name, space, seed=SEED)
    hosted = hosts.make(name, SPEC, SEED, {}, study="as in-process")
    seen = make_strategy("random", space, seed=SEED + 1).propose(600, [])
    observations = [Observation(p.arch, float(i % 97)) for i, p in enumerate(seen[:300])]
    pending = [p.arch for p in seen[300:]]  # 300 pending: several parts, sent once
    local.observe(observations)
    hosted.observe(observations)  # 300 observations: several parts
    for n in (1000, 5):  # the second call sends no new pending architecture
        want = local.propose(n, pending)
        got = hosted.propose(n, pending)
        assert len(got) == n
        assert [(p.arch, p.region, p.predicted_value) for p in got] == [
            (p.arch, p.region, p.predicted_value) for p in want
        ]
        pending = pending + [p.arch for p in want]


def test_a_list_that_cannot_be_pickled_leaves_the_pipe_clean(hosts: StrategyHosts) -> None:
    hosted = hosts.make("random", SPEC, SEED, {}, study="unpicklable")
    good = [Observation(a.arch, 1.0) for a in hosted.propose(2 * PART, [])]
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        hosted.observe(good + [Observation(lambda: 0, 1.0)])  # the last part fails
    # nothing was written: the host is in step and answers the next calls
    assert hosted.propose(3, []) and hosted.describe() == []
    assert not hosted._host.dead and hosted._host.proc.is_alive()


def _propose_while(hosted: object, n: int, others_report: bool) -> tuple[list, float]:
    """`hosted.propose(n, [])`, with another study reporting throughout or not; the
    proposals and how long pacing held the host stopped meanwhile."""
    stop = threading.Event()

    def reporting() -> None:
        while not stop.is_set():
            SHORT.stamp("another study")
            time.sleep(RECENT / 5)

    time.sleep(RECENT * 1.5)  # no earlier stamp counts
    thread = threading.Thread(target=reporting)
    if others_report:
        thread.start()
        time.sleep(RECENT / 5)
    before = hosted._host.paused  # type: ignore[attr-defined]
    try:
        got = hosted.propose(n, [])  # type: ignore[attr-defined]
    finally:
        stop.set()
        if others_report:
            thread.join()
    return got, hosted._host.paused - before  # type: ignore[attr-defined]


def test_a_bulk_call_is_paced_only_while_another_study_reports(hosts: StrategyHosts) -> None:
    """The host is stopped between slices of a Propose of more than `BULK` trials while
    another study reports, never for a small Propose, a study alone, or share 1; the
    proposals are those of the same strategy in-process."""
    local = make_strategy("random", make_space(SPEC), seed=SEED)
    hosted = hosts.make("random", SPEC, SEED, {}, study="paced")
    got, paused = _propose_while(hosted, BULK, others_report=True)
    assert paused == 0 and len(got) == BULK  # not bulk work
    want = [p.arch for p in local.propose(BULK, [])]
    assert [p.arch for p in got] == want
    got, paused = _propose_while(hosted, 2000, others_report=True)
    assert paused > 0
    assert [p.arch for p in got] == [p.arch for p in local.propose(2000, [])]
    got, paused = _propose_while(hosted, 2000, others_report=False)
    assert paused == 0 and len(got) == 2000
    share, SHORT.bulk_share = SHORT.bulk_share, 1.0
    try:
        got, paused = _propose_while(hosted, 2000, others_report=True)
    finally:
        SHORT.bulk_share = share
    assert paused == 0 and len(got) == 2000
