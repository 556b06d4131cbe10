"""LaNASStrategy: options, distinct/unseen proposals, determinism, replay, search quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archsampler.bench.tables import load_table
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies import make_strategy
from archsampler.strategies.base import Observation
from archsampler.strategies.lanas import LaNASStrategy

SPACE = NB201Space()
# A synthetic objective on NB201 cells: conv ops good, "none" bad, with an interaction term.
_GAIN = np.array([-2.0, 0.0, 1.0, 2.0, 0.5])


def _value(arch: tuple[int, ...]) -> float:
    return float(_GAIN[list(arch)].sum() + 0.5 * (arch[0] == arch[5]))


def _observed(n: int, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    archs = {SPACE.sample(rng) for _ in range(3 * n)}
    return [Observation(a, _value(a)) for a in sorted(archs)[:n]]


def _fast(**options: object) -> dict[str, object]:
    return {"candidates": 30, "init_samples": 10, **options}


def _tree_signature(strategy: LaNASStrategy) -> list[tuple[str, int, float]]:
    return [
        (n.path, n.count, round(n.threshold, 9) if not n.is_leaf else 0.0)
        for n in strategy.tree.nodes()
    ]


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="height"):
        LaNASStrategy(SPACE, heigth=3)
    with pytest.raises(ValueError, match="sampler"):
        LaNASStrategy(SPACE, sampler="metropolis")
    assert isinstance(make_strategy("lanas", SPACE, options={"height": 3}), LaNASStrategy)


def test_proposals_never_repeat_observed_or_pending() -> None:
    strategy = LaNASStrategy(SPACE, seed=1, **_fast())
    observed = _observed(60)
    strategy.observe(observed)
    seen = {SPACE.canonical_hash(o.arch) for o in observed}
    pending: list[tuple[int, ...]] = []
    for _ in range(16):
        (proposal,) = strategy.propose(1, pending)
        key = SPACE.canonical_hash(proposal.arch)
        assert key not in seen
        assert key not in {SPACE.canonical_hash(a) for a in pending}
        SPACE.validate(proposal.arch)
        pending.append(proposal.arch)
    assert len({SPACE.canonical_hash(a) for a in pending}) == 16


def test_batch_of_sixteen_is_distinct_and_spread() -> None:
    strategy = LaNASStrategy(SPACE, seed=2, **_fast())
    strategy.observe(_observed(80))
    proposals = strategy.propose(16, [])
    keys = {SPACE.canonical_hash(p.arch) for p in proposals}
    assert len(keys) == 16
    assert all(p.region for p in proposals)
    # Pending visits push UCB to other leaves: a batch does not come from a single region.
    assert len({p.region for p in proposals}) > 1


def test_same_seed_and_observations_give_same_proposals() -> None:
    runs = []
    for _ in range(2):
        strategy = LaNASStrategy(SPACE, seed=5, **_fast())
        strategy.observe(_observed(40))
        runs.append([(p.arch, p.region) for p in strategy.propose(8, [])])
    assert runs[0] == runs[1]
    other = LaNASStrategy(SPACE, seed=6, **_fast())
    other.observe(_observed(40))
    assert [(p.arch, p.region) for p in other.propose(8, [])] != runs[0]


@pytest.mark.parametrize("relearn_every", [1, 7])
def test_replay_in_one_batch_rebuilds_the_same_tree(relearn_every: int) -> None:
    observed = _observed(61)
    step = LaNASStrategy(SPACE, seed=3, **_fast(relearn_every=relearn_every))
    for i in range(0, len(observed), 4):
        step.observe(observed[i : i + 4])
    replay = LaNASStrategy(SPACE, seed=3, **_fast(relearn_every=relearn_every))
    replay.observe(observed)
    assert _tree_signature(step) == _tree_signature(replay)
    assert [p.arch for p in step.propose(4, [])] == [p.arch for p in replay.propose(4, [])]


def test_failed_trials_are_seen_but_not_learned() -> None:
    observed = _observed(40)
    failed = [Observation(a, None) for a in [(0,) * 6, (1,) * 6, (2,) * 6]]
    with_failed = LaNASStrategy(SPACE, seed=4, **_fast())
    with_failed.observe(observed + failed)
    clean = LaNASStrategy(SPACE, seed=4, **_fast())
    clean.observe(observed)
    assert _tree_signature(with_failed) == _tree_signature(clean)
    proposed = {SPACE.canonical_hash(p.arch) for p in with_failed.propose(16, [])}
    assert not proposed & {SPACE.canonical_hash(o.arch) for o in failed}


@pytest.mark.parametrize("sampler", ["gibbs", "rejection"])
def test_other_samplers_give_valid_unseen_proposals(sampler: str) -> None:
    strategy = LaNASStrategy(SPACE, seed=7, **_fast(sampler=sampler, height=2))
    observed = _observed(40)
    strategy.observe(observed)
    proposals = strategy.propose(4, [])
    keys = {SPACE.canonical_hash(p.arch) for p in proposals}
    assert len(keys) == 4
    assert not keys & {SPACE.canonical_hash(o.arch) for o in observed}


def _best_within(strategy_name: str, seed: int, table, budget: int) -> float:  # noqa: ANN001
    values = table.columns["c10_valid_acc"]
    options = {"candidates": 50} if strategy_name == "lanas" else {}
    strategy = make_strategy(strategy_name, SPACE, seed=seed, options=options)
    best = -np.inf
    for _ in range(budget):
        (proposal,) = strategy.propose(1, [])
        value = float(values[table.index[SPACE.canonical_hash(proposal.arch)]])
        best = max(best, value)
        strategy.observe([Observation(proposal.arch, value)])
    return best


def test_beats_random_search_on_nb201(benchmarks: Path) -> None:
    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", SPACE)
    seeds = range(4)
    lanas = [_best_within("lanas", s, table, 120) for s in seeds]
    rand = [_best_within("random", s, table, 120) for s in seeds]
    assert np.median(lanas) > np.median(rand)
    assert min(lanas) > np.median(rand) - 0.5
