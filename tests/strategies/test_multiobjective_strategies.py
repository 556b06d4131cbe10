"""Strategies with several objectives (`Observation.values`): NSGA-II selection in
`evolution`, lanas proposals from vectors, and infeasible (constraint-violating) trials
treated as evidence below every feasible one."""

from __future__ import annotations

import numpy as np

from archsampler.pareto import nondominated_ranks
from archsampler.spaces import make_space
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy
from archsampler.strategies import strategy_class

NB201 = {"builtin": "nb201"}


def _observations(space, rng, n: int, feasible=lambda v: True) -> list[Observation]:
    out = []
    for arch in space.enumerate_archs()[:n]:
        v = (float(rng.normal()), float(rng.normal()))
        out.append(Observation(arch, v[0], values=v, feasible=feasible(v)))
    return out


def test_which_strategies_take_several_objectives() -> None:
    takes = {n for n in ("random", "evolution", "lanas") if strategy_class(n).multi_objective}
    assert takes == {"random", "evolution", "lanas"}
    for name in ("alphax", "hierarchical", "reinforce", "nao"):
        assert not strategy_class(name).multi_objective


def test_nsga2_selection_keeps_the_best_fronts_then_the_least_crowded() -> None:
    space = make_space(NB201)
    evo = make_strategy("evolution", space, options={"population": 4, "sample_size": 2})
    archs = space.enumerate_archs()[:7]
    values = [(0, 4), (1, 3), (2, 2), (3, 1), (4, 0), (1.9, 1.9), (0, 0)]
    # front 0: the five points on x + y = 4, front 1: (1.9, 1.9), front 2: (0, 0)
    evo.observe([Observation(a, v[0], values=v) for a, v in zip(archs, values, strict=True)])
    kept = {tuple(v) for _, v, _ in evo.elite}
    # 4 of the 5 front points: both boundaries (infinite crowding distance), then the three
    # middle ones tie at crowding 1 and arrival order keeps the first two.
    assert kept == {(0.0, 4.0), (4.0, 0.0), (1.0, 3.0), (2.0, 2.0)}
    assert (evo._elite_rank == 0).all()
    # a feasible point beats any infeasible one, however good its objectives
    evo2 = make_strategy("evolution", space, options={"population": 2, "sample_size": 1})
    evo2.observe(
        [
            Observation(archs[0], 9.0, values=(9.0, 9.0), feasible=False),
            Observation(archs[1], 0.0, values=(0.0, 0.0)),
            Observation(archs[2], 0.0, values=(0.0, 1.0)),
        ]
    )
    assert {tuple(v) for _, v, _ in evo2.elite} == {(0.0, 1.0), (0.0, 0.0)}
    proposals = evo2.propose(5, [])
    hashes = {space.canonical_hash(p.arch) for p in proposals}
    assert len(hashes) == 5 and not hashes & evo2.seen


def test_ranks_use_constrained_domination() -> None:
    V = np.array([[5.0, 5.0], [1.0, 1.0], [0.0, 2.0], [0.5, 0.5]])
    feasible = np.array([False, True, True, True])
    assert nondominated_ranks(V, feasible).tolist() == [2, 0, 0, 1]


def test_lanas_proposes_new_valid_architectures_from_vectors() -> None:
    space = make_space(NB201)
    rng = np.random.default_rng(0)
    lanas = make_strategy("lanas", space, seed=1)
    lanas.observe(_observations(space, rng, 60))
    assert lanas.uses_tree
    pending = []
    for _ in range(5):
        batch = lanas.propose(4, pending)
        for p in batch:
            assert space.from_string(space.to_string(p.arch)) is not None
        keys = [space.canonical_hash(p.arch) for p in batch]
        assert len(set(keys)) == 4 and not set(keys) & lanas.seen
        assert not set(keys) & {space.canonical_hash(a) for a in pending}
        pending += [p.arch for p in batch]


def test_lanas_scores_infeasible_trials_below_every_feasible_one() -> None:
    space = make_space(NB201)
    rng = np.random.default_rng(3)
    lanas = make_strategy("lanas", space, seed=0)
    obs = _observations(space, rng, 40, feasible=lambda v: v[1] < 0.5)
    lanas.observe(obs)
    feasible = np.array([o.feasible for o in obs])
    assert 0 < feasible.sum() < len(obs)
    for mode in ("count", "distance", "count_volume", "chebyshev"):
        lanas.options["mo_score"] = mode
        scores = lanas._mo_scores(len(obs))
        assert scores[~feasible].max() < scores[feasible].min(), mode


def test_lanas_replay_in_one_batch_gives_the_same_proposals() -> None:
    space = make_space(NB201)
    obs = _observations(space, np.random.default_rng(5), 50)
    one, batch = (make_strategy("lanas", space, seed=2) for _ in range(2))
    for o in obs:
        one.observe([o])
    batch.observe(obs)
    one.rng, batch.rng = np.random.default_rng(9), np.random.default_rng(9)
    a = [space.canonical_hash(p.arch) for p in one.propose(5, [])]
    b = [space.canonical_hash(p.arch) for p in batch.propose(5, [])]
    assert a == b
