"""Warm-start hints on a real server: every proposal's hint is the true nearest evaluated
architecture (brute force over every COMPLETED trial), on unary, session and loop-step
proposals, for both goals; ties and the scan bound follow the documented rule."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from archsampler.spaces import make_space
from archsampler.testing.spaces import categorical_space
from archsampler.warmstart import WarmIndex
from archsampler_client import Client
from archsampler_client.models import Trial

SPACE = categorical_space(6, 4)


def brute_force(space: Any, arch: str, done: list[Trial], maximize: bool) -> Trial:
    """The COMPLETED trial nearest to `arch`: fewest differing token positions, then the
    better value, then the lower id (the documented rule, written out plainly)."""
    mine = space.to_tokens(space.from_string(arch))

    def key(t: Trial) -> tuple:
        theirs = space.to_tokens(space.from_string(t.arch))
        distance = sum(a != b for a, b in zip(mine, theirs, strict=True))
        return (distance, -t.value if maximize else t.value, t.id)

    return min(done, key=key)


def check_hints(client: Client, study: str, proposed: list[Trial], maximize: bool) -> int:
    """Assert each proposal's hint; returns how many carried one."""
    space = make_space({"user": SPACE})
    done = list(client.study(study).trials(states=["COMPLETED"]))
    for trial in proposed:
        if not done:
            assert trial.warm_start is None
            continue
        want = brute_force(space, trial.arch, done, maximize)
        hint = trial.warm_start
        assert hint is not None, trial
        mine = space.to_tokens(space.from_string(trial.arch))
        theirs = space.to_tokens(space.from_string(want.arch))
        assert hint.trial_id == want.id, (trial.arch, hint, want)
        assert hint.arch == want.arch
        assert hint.distance == sum(a != b for a, b in zip(mine, theirs, strict=True))
        assert hint.checkpoint_uri == want.checkpoint_uri
        assert hint.value == want.value
    return sum(t.warm_start is not None for t in proposed)


@pytest.mark.parametrize("goal", ["maximize", "minimize"])
def test_hint_is_the_true_nearest_evaluated_architecture(client: Client, goal: str) -> None:
    study = client.create_study(f"warm-{goal}", space=SPACE, strategy="random", seed=3, goal=goal)
    (first,) = study.propose(1)
    assert first.warm_start is None  # nothing evaluated yet
    rng = random.Random(7)
    hinted = 0
    for _ in range(12):
        batch = study.propose(4)
        hinted += check_hints(client, study.name, batch, goal == "maximize")
        for trial in batch:
            kind = rng.random()
            if kind < 0.15:
                study.report(trial.id, failed="diverged")  # never a hint
            else:
                # few distinct values: ties on distance and value exercise the id rule
                study.report(
                    trial.id, value=float(rng.randrange(3)), checkpoint_uri=f"ck/{trial.id}"
                )
    # a told result counts as evaluated too
    told = study.tell({f"p{i}": "c3" for i in range(6)}, value=9.0, checkpoint_uri="ck/told")
    with study.session() as session:
        batch = session.propose(8)
        hinted += check_hints(client, study.name, batch, goal == "maximize")
        done, batch = session.report_and_propose(batch[0].id, value=1.0, count=3)
        hinted += check_hints(client, study.name, batch, goal == "maximize")
    assert hinted >= 50
    near_told = [t for t in batch if t.warm_start and t.warm_start.trial_id == told.id]
    assert all(t.warm_start.checkpoint_uri == "ck/told" for t in near_told)
    # a FAILED trial is never a hint
    failed = {t.id for t in study.trials(states=["FAILED"])}
    assert failed and not any(t.warm_start.trial_id in failed for t in batch if t.warm_start)


def test_index_keeps_the_most_recent_completed_trials() -> None:
    """The bound: with `limit` rows, only the `limit` most recently completed are searched."""
    index = WarmIndex(created_at=0.0, length=3, limit=4)
    for i in range(10):
        index.add(i, [i, i, i], float(i), (f"a{i}", f"ck{i}", float(i)))
    assert len(index) == 4
    assert sorted(index.ids.tolist()) == [6, 7, 8, 9]
    ((row, distance),) = index.nearest(np.array([[0, 0, 0]], dtype=np.int32))
    assert distance == 3 and index.ids[row] == 9  # all at distance 3: the best value wins
    ((row, distance),) = index.nearest(np.array([[7, 0, 7]], dtype=np.int32))
    assert distance == 1 and index.ids[row] == 7


def test_a_large_round_scans_the_most_recent_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work bound: MAX_WORK / (queries x decisions) rows, the most recent ones."""
    import archsampler.warmstart as ws

    index = WarmIndex(created_at=0.0, length=2, limit=100)
    for i in range(10):
        index.add(i, [i, 0], 0.0, (f"a{i}", "", 0.0))
    monkeypatch.setattr(ws, "MIN_SCAN", 1)
    monkeypatch.setattr(ws, "MAX_WORK", 2 * 2 * 3)  # 2 queries x 2 decisions x 3 rows
    queries = np.array([[1, 0], [9, 0]], dtype=np.int32)
    got = [(int(index.ids[r]), d) for r, d in index.nearest(queries)]
    assert got == [(7, 1), (9, 0)]  # trial 1 is too old to be scanned; 7..9 are
    monkeypatch.setattr(ws, "MAX_WORK", 1 << 26)
    got = [(int(index.ids[r]), d) for r, d in index.nearest(queries)]
    assert got == [(1, 0), (9, 0)]


def test_nearest_follows_the_tie_rule_in_a_wrapped_ring() -> None:
    """Brute force against the index after its ring wrapped (rows no longer in id order),
    with many ties in distance and value: fewest differences, better value, lower id."""
    rng = np.random.default_rng(5)
    index = WarmIndex(created_at=0.0, length=4, limit=60)
    kept: dict[int, tuple[list[int], float]] = {}
    for trial_id in rng.permutation(150).tolist():  # ids arrive out of order
        tokens = rng.integers(0, 2, size=4).tolist()
        score = float(rng.integers(0, 2))
        index.add(trial_id, tokens, score, (f"a{trial_id}", "", score))
        kept[trial_id] = (tokens, score)
        if len(kept) > 60:  # the ring drops the oldest row
            kept.pop(next(iter(kept)))
    queries = rng.integers(0, 2, size=(40, 4))
    found = index.nearest(queries.astype(np.int16))
    for query, (row, distance) in zip(queries, found, strict=True):

        def key(tid: int, q=query) -> tuple:
            tokens, score = kept[tid]
            return (sum(a != b for a, b in zip(q.tolist(), tokens, strict=True)), -score, tid)

        best = min(kept, key=key)
        assert (int(index.ids[row]), distance) == (best, key(best)[0])
