"""NAO training: the joint loss falls, the decoder reproduces training archs and obeys masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from archsampler.predictor.scaling import fit_scaling
from archsampler.predictor.scaling import unscale
from archsampler.spaces.base import TokenSpec
from archsampler.spaces.nb201 import NB201Space
from archsampler_models import NAOConfig
from archsampler_models import NAOModel
from archsampler_models import train_nao
from archsampler_models.export import random_tokens
from archsampler_models.metrics import pairwise_accuracy

SMALL = dict(embed_dim=16, hidden_dim=32, mlp_width=32, batch_size=32, min_steps=0, gate_folds=0)


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, TokenSpec]:
    space = NB201Space()
    rng = np.random.default_rng(seed)
    tokens = np.array([space.to_tokens(space.sample(rng)) for _ in range(n)])
    weights = rng.normal(size=(space.token_spec().length, space.token_spec().vocab_size))
    values = weights[np.arange(tokens.shape[1]), tokens].sum(axis=1)
    return tokens, values, space.token_spec()


def test_training_reduces_loss_and_reconstructs() -> None:
    torch.set_num_threads(1)
    tokens, values, spec = _data(96)
    x = torch.as_tensor(tokens)
    y = torch.as_tensor(fit_scaling(values, "rank")[0], dtype=torch.float32)
    torch.manual_seed(0)
    before = NAOModel(spec, NAOConfig(**SMALL)).loss(x, y)[0].item()
    model = train_nao(
        tokens,
        values,
        spec,
        NAOConfig(epochs=150, lr=5e-3, trade_off=0.5, val_fraction=0.0, **SMALL),
    )
    after = model.loss(x, y)[0].item()
    assert after < 0.3 * before
    with torch.no_grad():
        decoded = model.decode(model.encoder(x)).numpy()
    assert (decoded == tokens).all(axis=1).mean() >= 0.9
    with torch.no_grad():
        pred = model.encode_predict_grad(x)[1].numpy()
    assert pairwise_accuracy(values, pred) > 0.85
    assert model.train_size == 96


def test_rank_scaling_roundtrips_and_is_monotone() -> None:
    values = np.array([10.0, 85.0, 91.5, 85.0, 60.0, 93.0])
    targets, scaling = fit_scaling(values, "rank")
    np.testing.assert_allclose(unscale(targets, scaling), values)
    grid = np.linspace(-6, 6, 101)
    assert (np.diff(unscale(grid, scaling)) > 0).all()
    targets, scaling = fit_scaling(values, "standard")
    np.testing.assert_allclose(unscale(targets, scaling), values)


def test_validation_metrics_reported() -> None:
    tokens, values, spec = _data(60)
    model = train_nao(tokens, values, spec, NAOConfig(epochs=3, val_fraction=0.2, **SMALL))
    for key in ("val_pairwise", "val_kendall", "val_reconstruction", "train_mse"):
        assert np.isfinite(model.metrics[key])


def test_decoder_never_emits_masked_token() -> None:
    rng = np.random.default_rng(3)
    masks = rng.random((7, 9)) < 0.3
    masks[np.arange(7), rng.integers(0, 9, size=7)] = True
    masks[2] = False
    masks[2, 8] = True  # a position with a single legal token
    spec = TokenSpec(7, 9, masks)
    torch.manual_seed(0)
    model = NAOModel(spec, NAOConfig(**SMALL)).eval()
    with torch.no_grad():
        emb = 5.0 * torch.randn(500, 7, SMALL["hidden_dim"])
        decoded = model.decode(emb).numpy()
    assert masks[np.arange(7), decoded].all()
    assert (decoded[:, 2] == 8).all()
    tokens = random_tokens(spec, 40, rng)
    assert masks[np.arange(7), tokens].all()
    trained = train_nao(tokens, rng.normal(size=40), spec, NAOConfig(epochs=2, **SMALL))
    with torch.no_grad():
        decoded = trained.decode(emb).numpy()
    assert masks[np.arange(7), decoded].all()


def test_rejects_masked_training_tokens() -> None:
    spec = TokenSpec(2, 3, np.array([[True, True, False], [True, True, True]]))
    with pytest.raises(ValueError, match="masked at position 0"):
        train_nao(np.array([[0, 1], [2, 1]]), np.array([1.0, 2.0]), spec)


def test_augment_hook_is_used() -> None:
    tokens, values, spec = _data(20)
    seen: list[np.ndarray] = []

    def augment(t: np.ndarray) -> np.ndarray:
        seen.append(t)
        return t[::-1].copy()

    train_nao(
        tokens, values, spec, NAOConfig(epochs=1, val_fraction=0.0, **SMALL), augment=augment
    )
    assert len(seen) == 20


@pytest.mark.parametrize("target", ["standard", "rank"])
def test_scaling_of_values_near_the_float_limit_stays_finite_and_monotone(target) -> None:
    # Found by the fuzz bench: reported values of ±1e308 made predictions inf.
    values = np.array([1e308, -1e308, 92.5, 91.0, 1.7e308, 0.0])
    targets, scaling = fit_scaling(values, target)
    assert np.isfinite(targets).all()
    out = unscale(np.linspace(-20, 20, 401), scaling)
    assert np.isfinite(out).all() and (out[1:] >= out[:-1]).all()
