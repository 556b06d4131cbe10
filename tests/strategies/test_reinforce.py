"""REINFORCE: the numpy LSTM's gradient, learning, masks, proposals, restart, options."""

from __future__ import annotations

import itertools
import math
import sqlite3
from pathlib import Path

import grpc
import numpy as np
import pytest

from archsampler.runtime import draw_seed
from archsampler.spaces import make_space
from archsampler.spaces.nb201 import NB201Space
from archsampler.storage import SQLStorage
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy
from archsampler.strategies.reinforce import ReinforceStrategy
from archsampler.strategies.reinforce.policy import LSTMPolicy
from archsampler.study import StudyService
from archsampler.testing.assertions import expect_error
from archsampler.trial import Outcome
from archsampler.trial import TrialState
from archsampler_client import Client

CONDITIONAL = {
    "params": [
        {"name": "a", "type": "categorical", "choices": ["x", "y"]},
        {"name": "n", "type": "int", "low": 0, "high": 4},
        {
            "name": "c",
            "type": "categorical",
            "choices": ["p", "q", "r"],
            "condition": {"param": "a", "op": "==", "value": "y"},
        },
    ],
    "constraints": [{"coefficients": {"n": 1}, "op": "<=", "bound": 3}],
}
"""Masked positions (vocabulary 6, 2-5 tokens allowed per position) and token sequences that
decode to nothing (n = 4 breaks the constraint; c set while a = x)."""


def _score(arch: tuple[int, ...]) -> float:
    """Toy objective on NB201: how many of the six edges are conv3x3 (op 3)."""
    return float(sum(op == 3 for op in arch))


def _policy(masks: np.ndarray, seed: int = 0) -> LSTMPolicy:
    rng = np.random.default_rng(seed)
    policy = LSTMPolicy(masks, hidden=5, embed=3, rng=rng, init_scale=0.5)
    for p in policy.params.values():  # away from the init's symmetries (bo starts at 0)
        p += rng.normal(0.0, 0.3, size=p.shape)
    return policy


@pytest.mark.parametrize("entropy", [0.0, 0.7])
def test_lstm_gradient_matches_finite_differences(entropy: float) -> None:
    rng = np.random.default_rng(1)
    masks = rng.random((5, 4)) < 0.6
    masks[:, 2] = True
    policy = _policy(masks)
    tokens = policy.sample(6, rng)
    weights = rng.normal(size=6)
    value, grads = policy.grad(tokens, weights, entropy)
    assert value == pytest.approx(policy.objective(tokens, weights, entropy), abs=1e-12)
    eps = 1e-6
    for name, param in policy.params.items():
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            old = param[idx]
            param[idx] = old + eps
            up = policy.objective(tokens, weights, entropy)
            param[idx] = old - eps
            down = policy.objective(tokens, weights, entropy)
            param[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        assert np.abs(grads[name]).max() > 1e-3, name  # every parameter is exercised
        np.testing.assert_allclose(grads[name], numeric, atol=1e-7, rtol=1e-5, err_msg=name)


def test_sampling_respects_the_masks_even_when_masked_tokens_are_favoured() -> None:
    rng = np.random.default_rng(2)
    masks = rng.random((7, 6)) < 0.4
    masks[np.arange(7), rng.integers(0, 6, 7)] = True
    policy = _policy(masks)
    policy.params["bo"][~masks] = 1e6  # a huge logit that the mask must still zero
    tokens = policy.sample(5000, rng)
    assert masks[np.arange(7), tokens].all()
    # Every allowed token shows up at every position (the masks do not over-prune).
    for t in range(7):
        assert set(np.unique(tokens[:, t])) == set(np.flatnonzero(masks[t]).tolist())
    assert np.isfinite(policy.log_prob(tokens)).all()


def test_sampling_follows_the_policys_probabilities() -> None:
    rng = np.random.default_rng(3)
    masks = np.ones((2, 3), dtype=bool)
    masks[1, 0] = False
    policy = _policy(masks)
    tokens = policy.sample(40_000, rng)
    seqs = [(a, b) for a in range(3) for b in (1, 2)]
    exact = np.exp(policy.log_prob(np.array(seqs)))
    assert exact.sum() == pytest.approx(1.0)
    freq = np.array([np.mean((tokens[:, 0] == a) & (tokens[:, 1] == b)) for a, b in seqs])
    np.testing.assert_allclose(freq, exact, atol=0.01)


def _mean_score(strategy: ReinforceStrategy, n: int = 2000) -> float:
    draws = strategy.policy.sample(n, np.random.default_rng(99))
    return float(np.mean([(row == 3).sum() for row in draws]))


def test_the_policy_improves_on_a_toy_objective_within_30_updates() -> None:
    space = NB201Space()
    strategy = ReinforceStrategy(space, seed=0)
    before = _mean_score(strategy)
    assert before == pytest.approx(6 / 5, abs=0.15)  # about uniform at the start
    for _ in range(300):
        arch = strategy.propose(1, [])[0].arch
        strategy.observe([Observation(arch, _score(arch))])
    assert strategy.updates == 30
    after = _mean_score(strategy)
    assert after >= before + 1.5, (before, after)  # conv3x3 on 1.2 → ≥ 2.7 of 6 edges


def test_proposals_are_valid_new_and_avoid_pending() -> None:
    space = make_space({"user": CONDITIONAL})
    listed = {space.canonical_hash(a) for a in space.enumerate_archs()}
    strategy = ReinforceStrategy(space, seed=5, batch_size=2)
    seen = set()
    for _ in range(len(listed) - 3):
        proposal = strategy.propose(1, [])[0]
        space.validate(proposal.arch)
        key = space.canonical_hash(proposal.arch)
        assert key not in seen
        seen.add(key)
        value = float(dict(proposal.arch)["n"]) if proposal.region == "policy" else None
        strategy.observe([Observation(proposal.arch, value)])
    pending = [p.arch for p in strategy.propose(2, [])]
    last = strategy.propose(1, pending)[0].arch
    assert {space.canonical_hash(a) for a in [*pending, last]} == listed - seen
    with pytest.raises(Exception, match="remain unseen"):
        strategy.propose(1, [*pending, last])


def test_nb201_batches_are_distinct_networks_that_the_policy_drew() -> None:
    space = NB201Space()
    strategy = ReinforceStrategy(space, seed=1)
    seen: set[str] = set()
    for _ in range(5):
        batch = strategy.propose(20, [])
        keys = {space.canonical_hash(p.arch) for p in batch}
        assert len(keys) == 20 and not keys & seen
        seen |= keys
        # Drawn from the policy: a fallback is labelled "random" and only fills a shortfall.
        assert sum(p.region.startswith("policy") for p in batch) >= 15
        strategy.observe([Observation(p.arch, _score(p.arch)) for p in batch])
    assert strategy.updates == 10


def _drive_like_the_service(
    strategy: ReinforceStrategy, seed: int, rounds: list[int]
) -> list[Observation]:
    """Rounds of proposals, reseeded as the service does, reported in uneven chunks."""
    log: list[Observation] = []
    for size in rounds:
        strategy.rng.bit_generator.state = np.random.PCG64(draw_seed(seed, len(log), 0)).state
        batch = strategy.propose(size, [])
        obs = [Observation(p.arch, _score(p.arch) if i % 5 else None) for i, p in enumerate(batch)]
        for chunk in (obs[:1], obs[1:]):
            strategy.observe(chunk)
        log += obs
    return log


def test_a_strategy_rebuilt_from_the_log_proposes_what_the_running_one_would() -> None:
    space = NB201Space()
    running = ReinforceStrategy(space, seed=11, batch_size=7)
    log = _drive_like_the_service(running, 11, [3, 8, 1, 13, 6, 9])
    rebuilt = ReinforceStrategy(space, seed=11, batch_size=7)
    rebuilt.observe(log)  # one call, as a restarted server replays the trial log
    assert rebuilt.updates == running.updates > 0
    for k, p in running.policy.params.items():
        np.testing.assert_array_equal(p, rebuilt.policy.params[k], err_msg=k)
    nexts = []
    for strategy in (running, rebuilt):
        strategy.rng.bit_generator.state = np.random.PCG64(draw_seed(11, len(log), 0)).state
        nexts.append([p.arch for p in strategy.propose(10, [])])
    assert nexts[0] == nexts[1]
    other = ReinforceStrategy(space, seed=12, batch_size=7)
    other.observe(log)
    assert any(
        not np.array_equal(p, other.policy.params[k]) for k, p in running.policy.params.items()
    )


def _copy_db(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def test_a_restarted_server_proposes_what_a_running_one_would(tmp_path: Path) -> None:
    options = {"batch_size": 3}
    running = StudyService(SQLStorage(str(tmp_path / "a.db")), default_strategy="reinforce")
    restarted = None
    try:
        running.create_study(
            "s", {"space": {"builtin": "nb201"}, "seed": 3, "strategy_options": options}
        )
        for _ in range(4):
            for t in running.propose("s", 4).result(timeout=30)[:3]:
                value = float(int(t.arch_hash[:4], 16))
                running.report("s", t.id, Outcome(TrialState.COMPLETED, value)).result(timeout=30)
        _copy_db(tmp_path / "a.db", tmp_path / "b.db")
        restarted = StudyService(SQLStorage(str(tmp_path / "b.db")), default_strategy="reinforce")
        after_restart = [t.arch for t in restarted.propose("s", 5).result(timeout=30)]
        without_restart = [t.arch for t in running.propose("s", 5).result(timeout=30)]
        assert after_restart == without_restart
    finally:
        for svc in (running, restarted):
            if svc is not None:
                svc.close()
                svc.storage.close()


BAD_OPTIONS = [
    ({"hidden": 0}, "'hidden' must be an integer in [1, 256]"),
    ({"hidden": 257}, "'hidden' must be an integer in [1, 256]"),
    ({"embed": 2.0}, "'embed' must be an integer in [1, 256]"),
    ({"batch_size": 1001}, "'batch_size' must be an integer in [1, 1000]"),
    ({"samples": True}, "'samples' must be an integer in [1, 10000]"),
    ({"lr": 0.0}, "'lr' must be a number in [1e-06, 1]"),
    ({"lr": 2}, "'lr' must be a number in [1e-06, 1]"),
    ({"baseline_decay": 1.0}, "'baseline_decay' must be a number in [0, 0.9999]"),
    ({"entropy": -0.1}, "'entropy' must be a number in [0, 10]"),
    ({"entropy": "lots"}, "'entropy' must be a number in [0, 10]"),
    ({"temperature": 1.0}, "unknown options ['temperature']"),
]


@pytest.mark.parametrize(("options", "match"), BAD_OPTIONS)
def test_bad_options_are_refused_naming_the_bound(options: dict, match: str) -> None:
    with pytest.raises(ValueError) as err:
        make_strategy("reinforce", NB201Space(), options=options)
    assert match in str(err.value)


def test_bad_options_over_the_wire_are_invalid_argument(client: Client) -> None:
    for options, match in BAD_OPTIONS[:2] + BAD_OPTIONS[5:6]:
        expect_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            client.create_study,
            "rl",
            space="nb201",
            strategy="reinforce",
            strategy_options=options,
            match=match,
        )
    assert client.list_studies() == []
    for inf in (math.inf, math.nan):
        expect_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            client.create_study,
            "rl",
            space="nb201",
            strategy="reinforce",
            strategy_options={"lr": inf},
            match="finite",
        )
    study = client.create_study(
        "rl", space="nb201", strategy="reinforce", strategy_options={"hidden": 256, "lr": 1}
    )
    assert len(study.propose(2)) == 2


def test_every_listed_sequence_decodes_or_is_refused() -> None:
    """The policy may draw sequences that decode to nothing; those are skipped, never
    proposed (the conditional space has 12 such sequences among its 60 allowed ones)."""
    space = make_space({"user": CONDITIONAL})
    masks = space.token_spec().masks
    allowed = list(itertools.product(*[np.flatnonzero(m).tolist() for m in masks]))
    assert sum(space.from_tokens(list(s)) is None for s in allowed) == 12
    strategy = ReinforceStrategy(space, seed=0)
    strategy.policy.params["bo"][1, 4] = 50.0  # nearly always n = 4: breaks the constraint
    proposals = strategy.propose(5, [])
    assert all(space.from_tokens(space.to_tokens(p.arch)) == p.arch for p in proposals)
    assert all(dict(p.arch)["n"] != 4 for p in proposals)
