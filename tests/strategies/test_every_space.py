"""Every registered strategy runs on every built-in space and on a user space: a few rounds
of propose / report, every proposal valid, new and distinct by canonical hash; and each new
built-in space serves a study through a real server.

The strategy list is read from the registry at collection time, so a strategy added
later is covered without editing this file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from archsampler.spaces import BUILTIN_SPACES
from archsampler.spaces import make_space
from archsampler.spaces.base import SearchSpace
from archsampler.strategies import STRATEGIES
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy

USER_SPACE: dict[str, Any] = {
    "params": [
        {"name": "depth", "type": "int", "low": 1, "high": 4},
        {"name": "op", "type": "categorical", "choices": ["conv3", "conv5", "pool"]},
        {"name": "width", "type": "int", "low": 16, "high": 256, "log": True},
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        {
            "name": "kernel",
            "type": "categorical",
            "choices": ["3", "5"],
            "condition": {"param": "op", "op": "!=", "value": "pool"},
        },
    ]
}
SPACES = [*BUILTIN_SPACES, "user"]
ROUNDS = 8
BATCH = 3


def build(space_name: str) -> SearchSpace:
    spec = {"user": USER_SPACE} if space_name == "user" else {"builtin": space_name}
    return make_space(spec)


def objective(space: SearchSpace) -> Any:
    """A fixed random linear function of the features: a signal learning strategies follow."""
    w = np.random.default_rng(123).normal(size=space.dim)
    return lambda arch: float(space.encode(arch) @ w)


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_strategy_proposes_valid_new_distinct_architectures(
    strategy: str, space_name: str
) -> None:
    space = build(space_name)
    f = objective(space)
    s = make_strategy(strategy, space, seed=3)
    seen: set[str] = set()
    pending: list[Any] = []
    for _ in range(ROUNDS):
        proposals = s.propose(BATCH, pending)
        assert len(proposals) == BATCH
        for p in proposals:
            space.validate(p.arch)  # valid
            key = space.canonical_hash(p.arch)
            assert key not in seen, f"{strategy} re-proposed {space.to_string(p.arch)!r}"
            seen.add(key)  # new, and distinct within the batch
            # the wire forms a trainer receives parse back to the same network
            assert space.canonical_hash(space.from_string(space.to_string(p.arch))) == key
            assert space.canonical_hash(space.from_params(space.to_params(p.arch))) == key
        # report the previous round now, so every propose call also sees pending trials
        s.observe([Observation(a, f(a)) for a in pending])
        pending = [p.arch for p in proposals]
    s.observe([Observation(a, f(a)) for a in pending])
    assert len(seen) == ROUNDS * BATCH


GENOTYPE_PREFIX = {"darts": "Genotype(normal=", "darts_rnn": "Genotype(recurrent=", "mlp": "("}


@pytest.mark.parametrize("space_name", sorted(GENOTYPE_PREFIX))
def test_new_builtin_spaces_serve_a_study(client, space_name: str) -> None:
    space = build(space_name)
    f = objective(space)
    study = client.create_study(f"s-{space_name}", space=space_name, strategy="lanas", seed=1)
    hashes = set()
    for _ in range(6):
        for trial in study.propose(count=3, client_id="w"):
            arch = space.from_string(trial.arch)
            assert trial.arch.startswith(GENOTYPE_PREFIX[space_name])
            assert space.from_params(dict(trial.params)) == arch
            assert trial.arch_hash not in hashes
            hashes.add(trial.arch_hash)
            study.report(trial.id, value=f(arch))
    best = study.best()
    assert best.value == max(t.value for t in study.trials()) and len(hashes) == 18


@pytest.mark.parametrize(
    "space_name, arch, message",
    [
        (
            "darts",
            "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=range(2, 6), reduce=[], "
            "reduce_concat=range(2, 6))",
            "normal: a cell lists 8 (op, input) pairs",
        ),
        ("darts_rnn", "Genotype(recurrent=[], concat=range(1, 9))", "lists 8 (activation"),
        ("mlp", "(48, 'relu')", "layer 1: width 48 is not one of"),
        ("mlp", {"layers": 1, "width_1": 32, "activation_1": "gelu", "dropout_1": 0.0}, "gelu"),
    ],
)
def test_bad_architectures_of_new_spaces_are_invalid_argument(
    client, space_name: str, arch: Any, message: str
) -> None:
    import grpc

    from archsampler.testing.assertions import expect_error

    study = client.create_study(f"bad-{space_name}", space=space_name, strategy="random")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, study.tell, arch, 0.5, match=message)
    good = build(space_name).sample(np.random.default_rng(0))
    trial = study.tell(build(space_name).to_string(good), 0.5)
    assert trial.arch == build(space_name).to_string(good)
