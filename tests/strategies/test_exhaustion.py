"""A finite space is exhausted only when it is: strategies fall back to the listed space."""

from __future__ import annotations

import time

import numpy as np
import pytest

from archsampler.errors import ExhaustedError
from archsampler.spaces import make_space
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy

STRATEGIES = ("random", "evolution", "nao")

CONDITIONAL = {
    "user": {
        "params": [
            {"name": "d", "type": "int", "low": 1, "high": 6},
            {"name": "op", "type": "categorical", "choices": ["a", "b", "c"]},
            {
                "name": "w",
                "type": "int",
                "low": 0,
                "high": 40,
                "step": 4,
                "condition": {"param": "d", "op": ">=", "value": 3},
            },
        ],
        "constraints": [{"coefficients": {"d": 1, "w": 0.5}, "op": "<=", "bound": 14}],
    }
}


@pytest.mark.parametrize("name", STRATEGIES)
def test_nb201_with_all_but_625_pending_proposes_exactly_the_625_left(name: str) -> None:
    space = NB201Space()
    everything = space.enumerate_archs()
    order = np.random.default_rng(1).permutation(len(everything))
    pending = [everything[i] for i in order[625:]]
    left = {space.canonical_hash(everything[i]) for i in order[:625]}
    strategy = make_strategy(name, space, seed=0)
    with pytest.raises(ExhaustedError, match="only 625 of 626 requested architectures remain"):
        strategy.propose(626, pending)
    for n in (1, 10, 100):  # the failed call does not poison later ones
        got = strategy.propose(n, pending)
        assert len({space.canonical_hash(p.arch) for p in got} & left) == n
    got = strategy.propose(625, pending)
    assert {space.canonical_hash(p.arch) for p in got} == left
    with pytest.raises(ExhaustedError, match="only 0 of 1 requested"):
        strategy.propose(1, pending + [p.arch for p in got])


def test_observed_and_pending_together_exhaust_a_conditional_constrained_space() -> None:
    space = make_space(CONDITIONAL)
    everything = space.enumerate_archs()
    strategy = make_strategy("random", space, seed=3)
    strategy.observe([Observation(a, 1.0) for a in everything[::2]])
    pending = everything[1::2][:-4]
    got = strategy.propose(4, pending)
    assert {p.arch for p in got} == set(everything[1::2][-4:])
    with pytest.raises(ExhaustedError, match="only 0 of 1"):
        strategy.propose(1, everything[1::2])


@pytest.mark.parametrize("name", STRATEGIES)
def test_constrained_int_space_is_exhausted_at_once(name: str) -> None:
    # x in 0..99 with x <= 0.5: one architecture. Before, the second proposal sampled
    # ~10^8 times (14.8 s) before giving up.
    space = make_space(
        {
            "user": {
                "params": [{"name": "x", "type": "int", "low": 0, "high": 99}],
                "constraints": [{"coefficients": {"x": 1}, "op": "<=", "bound": 0.5}],
            }
        }
    )
    strategy = make_strategy(name, space, seed=0)
    (first,) = strategy.propose(1, [])
    assert first.arch == (("x", 0),)
    for _ in range(3):
        start = time.perf_counter()
        with pytest.raises(ExhaustedError, match="only 0 of 1 requested"):
            strategy.propose(1, [first.arch])
        assert time.perf_counter() - start < 2.0  # generous: ~1 ms idle (bench: exhaustion)


def test_tight_constraints_over_a_big_grid_are_listed_not_sampled() -> None:
    # 10^20 grid points, 66 feasible: rejection sampling cannot find one; the list can.
    space = make_space(
        {
            "user": {
                "params": [
                    {"name": f"p{i}", "type": "int", "low": 0, "high": 99} for i in range(10)
                ],
                "constraints": [
                    {"coefficients": {f"p{i}": 1 for i in range(10)}, "op": "<=", "bound": 2}
                ],
            }
        }
    )
    strategy = make_strategy("random", space, seed=0)
    got = strategy.propose(66, [])
    assert len({p.arch for p in got}) == 66
    for p in got:
        space.validate(p.arch)
    with pytest.raises(ExhaustedError, match="the space has 66 distinct"):
        strategy.propose(1, [p.arch for p in got])


def test_a_space_too_big_to_list_still_samples() -> None:
    space = make_space(
        {"user": {"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}}
    )
    assert space.enumerate_archs() is None
    strategy = make_strategy("random", space, seed=0)
    assert len(strategy.propose(500, [])) == 500
