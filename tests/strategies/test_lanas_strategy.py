"""LaNASStrategy: options, distinct/unseen proposals, determinism, replay, search quality."""

from __future__ import annotations

import re
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


@pytest.mark.parametrize(
    "options, message",
    [
        ({"candidates": 10**12}, "'candidates' must be an integer in [1, 2000], got 10000000"),
        ({"candidates": 0}, "'candidates' must be an integer in [1, 2000]"),
        ({"height": 40}, "'height' must be an integer in [1, 12]"),
        ({"max_fit": 10**9}, "'max_fit' must be an integer in [1, 100000]"),
        ({"relearn_every": True}, "'relearn_every' must be an integer"),
        ({"init_samples": 2.5}, "'init_samples' must be an integer"),
        ({"cp": float("nan")}, "'cp' must be a number in [0, 100], got nan"),
        ({"cp": "0.1"}, "'cp' must be a number in [0, 100], got '0.1'"),
        ({"ridge": 0}, "'ridge' must be a number in [1e-06, 1e+06]"),
        ({"explore": 1.5}, "'explore' must be a number in [0, 1]"),
        ({"virtual_loss": float("inf")}, "'virtual_loss' must be a number in [0, 100]"),
        ({"leaf_rule": "keep"}, "'leaf_rule' must be one of ['reject', 'relabel']"),
        ({"cp_scale": 1}, "'cp_scale' must be one of ['range', 'max']"),
    ],
)
def test_every_option_is_bounded(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LaNASStrategy(SPACE, **options)


def test_bounds_are_usable_at_their_limits() -> None:
    strategy = LaNASStrategy(SPACE, seed=1, candidates=2000, height=12, ridge=1e-6, cp=100)
    strategy.observe(_observed(40))
    assert len(strategy.propose(2, [])) == 2


def test_every_proposal_lies_in_its_leaf() -> None:
    """leaf_rule reject (default): each proposal routes to the leaf it is labelled with,
    for the polytope samplers too (decoded candidates that leave the leaf are dropped)."""
    for sampler in ("auto", "hit_and_run", "gibbs"):
        strategy = LaNASStrategy(SPACE, seed=2, **_fast(sampler=sampler))
        strategy.observe(_observed(80))
        proposals = strategy.propose(24, [])
        assert len(proposals) == 24
        for p, selected in zip(proposals, strategy.selected, strict=True):
            leaf = strategy.tree.route(SPACE.encode(p.arch))
            assert leaf.is_leaf and p.region == leaf.path == selected, sampler


def test_a_leaf_with_nothing_new_is_dry_and_ucb_moves_on() -> None:
    strategy = LaNASStrategy(SPACE, seed=2, **_fast(height=2, min_samples=2, virtual_loss=0))
    strategy.observe(_observed(60))
    best = strategy.tree.leaves()[0]
    # Exclude every network of the best leaf: nothing new can come from it.
    inside = [a for a in SPACE.enumerate_archs() or [] if best.contains(SPACE.encode(a)[None])[0]]
    assert inside, "needs the listed NB201 space"
    pending = inside[:]
    proposals = strategy.propose(4, pending)
    assert best.dry
    assert all(p.region != best.path for p in proposals)
    assert all(strategy.tree.route(SPACE.encode(p.arch)).path == p.region for p in proposals)


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


@pytest.mark.parametrize(
    "options",
    [
        {"relearn_every": 1},
        {"relearn_every": 7},
        # background rebuilds: from 20 observations on, a tree is used 3 observations later
        {"relearn_every": 7, "background_from": 20},
        {"relearn_every": 1, "relearn_growth": 0.2, "background_from": 0},
    ],
)
def test_replay_in_one_batch_rebuilds_the_same_tree(options: dict[str, object]) -> None:
    observed = _observed(61)
    step = LaNASStrategy(SPACE, seed=3, **_fast(**options))
    for i in range(0, len(observed), 4):
        step.observe(observed[i : i + 4])
    replay = LaNASStrategy(SPACE, seed=3, **_fast(**options))
    replay.observe(observed)
    assert _tree_signature(step) == _tree_signature(replay)
    assert [p.arch for p in step.propose(4, [])] == [p.arch for p in replay.propose(4, [])]


def test_background_rebuild_is_used_at_its_swap_point_only() -> None:
    """relearn_every 10 from 20 on: the tree built at 30 observations is used from 35."""
    observed = _observed(40)
    opts = _fast(relearn_every=10, background_from=20)
    bg = LaNASStrategy(SPACE, seed=3, **opts)
    bg.observe(observed[:34])
    before = _tree_signature(bg)
    assert bg._pending is not None and bg._pending.k == 30
    bg._advance(bg._pending, None)  # finished, yet not in use before the swap point
    assert bg._pending.done and _tree_signature(bg) == before
    bg.observe(observed[34:35])
    assert bg._pending is None and _tree_signature(bg) != before
    # The tree in use equals a tree built in line on the first 30, with 5 routed after.
    inline = LaNASStrategy(SPACE, seed=3, **_fast(relearn_every=10))
    inline.observe(observed[:30])
    for o in observed[30:35]:
        inline.tree.add(SPACE.encode(o.arch), float(o.value))  # type: ignore[arg-type]
    assert _tree_signature(bg) == _tree_signature(inline)
    # One batch of 34 builds only the last due tree (20) in line; 30 was built in slices.
    assert bg.rebuild_stats["count"] == 2


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


def test_sliced_rebuilds_finish_before_their_swap_point() -> None:
    """One observation at a time, each observe call runs at least its share of the steps
    left, so the call at the swap point never has work left over (on any machine)."""
    observed = _observed(120)
    strategy = LaNASStrategy(SPACE, seed=3, **_fast(relearn_every=10, background_from=20))
    strategy.observe(observed[:20])
    for o in observed[20:]:
        strategy.observe([o])
    assert strategy.rebuild_stats["count"] >= 10
    assert strategy.rebuild_stats["waited_s"] == 0.0


@pytest.mark.parametrize("space_spec", ["float", "nb201"])
def test_values_at_the_float_limit_keep_proposals_coming(space_spec: str) -> None:
    """Reported values of ±1e308 made the tree's means NaN and UCB re-select a dry leaf for
    ever (a Propose(1000) that never ended, found by bench fuzz): proposals keep coming,
    every one new (from the tree, or uniformly once every leaf is dry)."""
    from archsampler.spaces import make_space

    if space_spec == "float":
        space = make_space(
            {
                "user": {
                    "params": [
                        {"name": "width", "type": "float", "low": 1.0, "high": 8.0},
                        {"name": "op", "type": "categorical", "choices": ["conv", "pool", "id"]},
                        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                    ]
                }
            }
        )
    else:
        space = SPACE
    strategy = make_strategy("lanas", space, seed=3, options={"init_samples": 4})
    extremes = [1e308, -1e308, 1.7976931348623157e308, 5e-324, 0.0, -1e300]
    archs = strategy.propose(24, [])
    strategy.observe(
        [Observation(p.arch, extremes[i % len(extremes)]) for i, p in enumerate(archs)]
    )
    proposals = strategy.propose(300, [p.arch for p in archs])
    keys = {space.canonical_hash(p.arch) for p in proposals}
    assert len(keys) == 300 and not keys & {space.canonical_hash(p.arch) for p in archs}
