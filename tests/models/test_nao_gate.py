"""The ranking gate: a ranker that ignores the values passes it at most 5 % of the time."""

from __future__ import annotations

import numpy as np
import torch

from archsampler.spaces.nb201 import NB201Space
from archsampler_models import NAOConfig
from archsampler_models import train_nao
from archsampler_models.metrics import pairwise_accuracy
from archsampler_models.metrics import ranking_gate_p_value

TINY = dict(
    embed_dim=8, hidden_dim=16, mlp_width=16, batch_size=32, epochs=4, min_steps=0, gate_folds=4
)


def test_random_rankers_pass_at_most_alpha_and_the_old_rule_did_not() -> None:
    # 2,000 random rankers on 40-50 trials: the old rule (pairwise accuracy >= 0.55 on a 10 %
    # hold-out, 4-5 architectures) lets about a third through; the permutation gate <= 5 %.
    rng = np.random.default_rng(0)
    seeds = 2000
    gate = old = 0
    for _ in range(seeds):
        n = int(rng.integers(40, 51))
        values, pred = rng.normal(size=n), rng.normal(size=n)
        folds = rng.permutation(n) % 4
        gate += ranking_gate_p_value(values, pred, folds, rng, permutations=200) <= 0.05
        held = rng.permutation(n)[: round(0.1 * n)]
        old += pairwise_accuracy(values[held], pred[held]) >= 0.55
    # 0.05 plus three binomial standard deviations (0.0049) at 2,000 seeds.
    assert gate / seeds <= 0.065
    assert old / seeds >= 0.25


def test_the_gate_passes_a_ranker_that_knows_the_values() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=40)
    folds = np.arange(40) % 4
    noisy = values + rng.normal(scale=1.0, size=40)  # Kendall tau about 0.5
    assert ranking_gate_p_value(values, noisy, folds, rng) <= 0.01
    assert ranking_gate_p_value(values, -values, folds, rng) > 0.5  # a reversed ranker fails


def _nb201(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    space = NB201Space()
    rng = np.random.default_rng(seed)
    tokens = np.array([space.to_tokens(space.sample(rng)) for _ in range(n)])
    weights = rng.normal(size=(tokens.shape[1], 5))
    return tokens, weights[np.arange(tokens.shape[1]), tokens].sum(axis=1)


def test_models_trained_on_shuffled_values_rarely_pass() -> None:
    # End to end: NAO trained on 40 trials whose values were shuffled (no signal left) over
    # 20 seeds. A valid 5 % gate passes 4 or more of 20 with probability 1.6 %.
    torch.set_num_threads(1)
    spec = NB201Space().token_spec()
    passed = 0
    for seed in range(20):
        tokens, values = _nb201(40, seed)
        values = np.random.default_rng(seed).permutation(values)
        model = train_nao(tokens, values, spec, NAOConfig(seed=seed, **TINY))
        assert model.metrics["gate_folds"] == 4
        passed += int(model.metrics["gate_passed"])
    assert passed <= 3


def test_a_model_with_signal_passes_and_trains_on_every_trial() -> None:
    torch.set_num_threads(1)
    tokens, values = _nb201(40, 3)
    cfg = NAOConfig(
        embed_dim=16,
        hidden_dim=32,
        mlp_width=32,
        batch_size=32,
        epochs=40,
        min_steps=0,
        gate_folds=4,
    )
    model = train_nao(tokens, values, NB201Space().token_spec(), cfg)
    assert model.metrics["gate_passed"] == 1.0 and model.metrics["gate_p_value"] <= 0.05
    assert model.metrics["cv_kendall"] > 0.2
    assert model.train_size == 40
    # Too few architectures for four folds of two: the gate does not pass.
    few = train_nao(tokens[:7], values[:7], NB201Space().token_spec(), cfg)
    assert few.metrics["gate_passed"] == 0.0 and few.metrics["gate_p_value"] == 1.0
    # Without a gate (the NAOConfig default; the service and bench search set 4 folds).
    off = train_nao(
        tokens, values, NB201Space().token_spec(), NAOConfig(**{**TINY, "gate_folds": 0})
    )
    assert "gate_passed" not in off.metrics
