"""Regularized evolution: no repeats, pending-aware, reproducible, better than random."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from archsampler.bench.search_runner import ProblemSpec
from archsampler.bench.search_runner import load_problem
from archsampler.bench.search_runner import run_search
from archsampler.bench.tables import nb201_table_path
from archsampler.errors import ExhaustedError
from archsampler.spaces import make_space
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy
from archsampler.strategies.evolution import EvolutionStrategy


def _score(arch: tuple[int, ...]) -> float:
    # A smooth synthetic objective: conv3x3 (op 3) everywhere is best.
    return float(sum(op == 3 for op in arch) + 0.1 * sum(arch))


def _drive(strategy: EvolutionStrategy, steps: int) -> list[tuple[int, ...]]:
    archs = []
    for _ in range(steps):
        arch = strategy.propose(1, [])[0].arch
        strategy.observe([Observation(arch, _score(arch))])
        archs.append(arch)
    return archs


def test_never_repeats_and_exhausts_cleanly() -> None:
    space = NB201Space()
    strategy = make_strategy(
        "evolution", space, seed=3, options={"population": 8, "sample_size": 3}
    )
    archs = _drive(strategy, 400)
    assert len({space.canonical_hash(a) for a in archs}) == len(archs)
    for a in archs:
        space.validate(a)


def test_pending_architectures_are_not_proposed() -> None:
    space = NB201Space()
    strategy = EvolutionStrategy(space, seed=1, population=5, sample_size=2)
    _drive(strategy, 20)
    pending = [p.arch for p in strategy.propose(30, [])]
    again = strategy.propose(30, pending)
    keys = {space.canonical_hash(a) for a in pending}
    assert not keys & {space.canonical_hash(p.arch) for p in again}
    assert len({space.canonical_hash(p.arch) for p in again}) == 30


def test_mutations_change_one_token_of_a_population_member() -> None:
    space = NB201Space()
    strategy = EvolutionStrategy(space, seed=0, population=10, sample_size=4)
    _drive(strategy, 10)
    members = [a for a, _ in strategy.population]
    children = [p.arch for p in strategy.propose(20, [])]
    for child in children:
        diffs = [sum(x != y for x, y in zip(child, m, strict=True)) for m in members]
        assert min(diffs) == 1


def test_same_seed_same_proposals() -> None:
    space = NB201Space()
    a = _drive(EvolutionStrategy(space, seed=7, population=10, sample_size=3), 60)
    b = _drive(EvolutionStrategy(space, seed=7, population=10, sample_size=3), 60)
    c = _drive(EvolutionStrategy(space, seed=8, population=10, sample_size=3), 60)
    assert a == b
    assert a != c


def test_bad_options_are_rejected() -> None:
    space = NB201Space()
    with pytest.raises(ValueError, match="sample_size"):
        EvolutionStrategy(space, population=5, sample_size=6)
    with pytest.raises(ValueError, match="population"):
        EvolutionStrategy(space, population=0)
    with pytest.raises(ValueError, match=r"'population' must be an integer in 1\.\.10000"):
        EvolutionStrategy(space, population=10_001)
    with pytest.raises(ValueError, match="'sample_size' must be an integer"):
        EvolutionStrategy(space, population=10, sample_size=2.0)
    with pytest.raises(ValueError, match="unknown options"):
        EvolutionStrategy(space, mutation_rate=0.5)
    assert EvolutionStrategy(space, population=10_000, sample_size=10_000).sample_size == 10_000


def test_finds_the_last_unseen_architectures_then_exhausts() -> None:
    space = NB201Space()
    strategy = EvolutionStrategy(space, seed=0, population=1, sample_size=1)
    parent = _drive(strategy, 5)[-1]
    everything = list(itertools.product(range(5), repeat=6))
    # Three one-edge mutations of the only parent: mutation must try every neighbour.
    left = [parent[:k] + ((parent[k] + 1) % 5,) + parent[k + 1 :] for k in (0, 2, 5)]
    keys = {space.canonical_hash(a) for a in left}
    assert len(keys) == 3 and not keys & strategy.seen
    pending = [a for a in everything if space.canonical_hash(a) not in keys]
    got = strategy.propose(3, pending)
    assert {space.canonical_hash(p.arch) for p in got} == keys
    with pytest.raises(ExhaustedError, match="only 3 of 4 requested architectures remain"):
        strategy.propose(4, pending)


def test_beats_random_on_nb201(benchmarks: object) -> None:
    problem = load_problem(
        ProblemSpec(None, str(nb201_table_path()), "c10_valid_acc", "c10_valid_acc")
    )
    budget, seeds = 300, 8

    def best_found(name: str, seed: int) -> float:
        rows = run_search(
            problem,
            name,
            seed,
            budget,
            {"population": 30, "sample_size": 8} if name == "evolution" else None,
            stop_at_best=False,
        )
        return float(problem.values[rows].max())

    evo = np.mean([best_found("evolution", s) for s in range(seeds)])
    rnd = np.mean([best_found("random", s) for s in range(seeds)])
    assert evo > rnd


def test_mutation_can_switch_on_a_conditional_parameter() -> None:
    space = make_space(
        {
            "user": {
                "params": [
                    {"name": "op", "type": "categorical", "choices": ["pool", "conv"]},
                    {
                        "name": "kernel",
                        "type": "categorical",
                        "choices": ["k3", "k5"],
                        "condition": {"param": "op", "op": "==", "value": "conv"},
                    },
                    {"name": "width", "type": "int", "low": 1, "high": 40},
                ]
            }
        }
    )
    strategy = EvolutionStrategy(space, seed=0, population=2, sample_size=1)
    parents = [space.from_params({"op": "pool", "width": w}) for w in (10, 30)]
    strategy.observe([Observation(a, 1.0) for a in parents])
    children = [p.arch for p in strategy.propose(20, [])]
    switched = [dict(c) for c in children if dict(c)["op"] == "conv"]
    assert switched and all(c["width"] in (10, 30) and "kernel" in c for c in switched)
