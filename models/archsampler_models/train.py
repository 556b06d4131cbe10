"""Joint training of the NAO encoder, predictor and decoder."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from archsampler_models.metrics import kendall_s
from archsampler_models.metrics import kendall_tau
from archsampler_models.metrics import pairwise_accuracy
from archsampler_models.metrics import ranking_gate_p_value
from archsampler_models.nao import NAOConfig
from archsampler_models.nao import NAOModel
from archsampler_models.scaling import fit_scaling
from archsampler_models.tokens import TokenSpec

Augment = Callable[[np.ndarray], np.ndarray]
"""Maps a token sequence to a symmetric one (same network), e.g. swapped DAG branches."""


def train_nao(
    tokens: np.ndarray,
    values: np.ndarray,
    spec: TokenSpec,
    config: NAOConfig | None = None,
    *,
    augment: Augment | None = None,
    progress: bool = False,
) -> NAOModel:
    """Train a NAO model on token sequences and their measured values (higher is better).

    Args:
        tokens: int array (n, spec.length) with tokens allowed by `spec.masks`.
        values: float array (n,).
        spec: the space's token spec.
        config: sizes and training settings (defaults: `NAOConfig()`).
        augment: optional symmetric-graph augmentation; each training pair (x, s) is joined
            by (augment(x), s).
        progress: show a tqdm bar (stderr).

    Returns:
        The model in eval mode, with `scaling`, `train_size` and `metrics`
        (final losses; validation pairwise accuracy / Kendall τ / reconstruction when
        `config.val_fraction` leaves at least two architectures out; the ranking gate's
        `gate_p_value`, `gate_passed`, `cv_kendall`, `cv_pairwise` when
        `config.gate_folds >= 2`, see `ranking_gate`).

    Raises:
        ValueError: shapes disagree, tokens break the masks, or fewer than two architectures.
    """
    cfg = config or NAOConfig()
    tokens = np.asarray(tokens, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    _check(tokens, values, spec)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    order = rng.permutation(len(tokens))
    n_val = int(round(cfg.val_fraction * len(tokens)))
    n_val = n_val if n_val >= 2 and len(tokens) - n_val >= 2 else 0
    val_idx, fit_idx = order[:n_val], order[n_val:]
    fit_tok, fit_val = tokens[fit_idx], values[fit_idx]
    if augment is not None:
        fit_tok = np.concatenate([fit_tok, np.stack([augment(t) for t in fit_tok])])
        fit_val = np.concatenate([fit_val, fit_val])
    targets, scaling = fit_scaling(fit_val, cfg.target)

    model = NAOModel(spec, cfg)
    model.scaling = scaling
    model.train_size = len(tokens)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x_all = torch.as_tensor(fit_tok)
    y_all = torch.as_tensor(targets, dtype=torch.float32)
    model.train()
    mse = ce = torch.zeros(())
    batches = -(-len(x_all) // cfg.batch_size)
    epochs = max(cfg.epochs, -(-cfg.min_steps // batches)) if cfg.epochs else 0
    bar = tqdm(range(epochs), desc="train nao", disable=not progress, leave=False)
    for _ in bar:
        perm = torch.as_tensor(rng.permutation(len(x_all)))
        for start in range(0, len(perm), cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            loss, mse, ce = model.loss(x_all[idx], y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        bar.set_postfix(mse=f"{mse.item():.3f}", ce=f"{ce.item():.3f}")
    model.eval()
    model.metrics = {"train_mse": mse.item(), "train_ce": ce.item()}
    if n_val:
        model.metrics.update(evaluate(model, tokens[val_idx], values[val_idx], prefix="val_"))
    if cfg.gate_folds >= 2:
        model.metrics.update(ranking_gate(tokens, values, spec, cfg, augment=augment))
    return model


def ranking_gate(
    tokens: np.ndarray,
    values: np.ndarray,
    spec: TokenSpec,
    config: NAOConfig,
    *,
    augment: Augment | None = None,
) -> dict[str, float]:
    """Whether models trained with `config` rank unseen architectures better than chance.

    K-fold cross-validation (K = `config.gate_folds`): a model is trained on K - 1 folds
    with the same settings and predicts the held-out fold. The out-of-fold ranking is scored
    with Kendall's S within each fold and a within-fold permutation test
    (`ranking_gate_p_value`); the gate passes when p <= `config.gate_alpha`, which a ranker
    whose predictions ignore the values does with probability at most `gate_alpha`. With
    fewer than two architectures per fold the gate does not pass.

    Returns:
        `gate_p_value`, `gate_passed` (1.0 / 0.0), `gate_folds`, and the out-of-fold
        `cv_kendall` (τ-a over within-fold pairs) and `cv_pairwise` accuracy.
    """
    n, k = len(tokens), config.gate_folds
    out = {"gate_folds": float(k), "gate_alpha": config.gate_alpha}
    if n < 2 * k:
        return {**out, "gate_p_value": 1.0, "gate_passed": 0.0, "cv_kendall": float("nan"),
                "cv_pairwise": float("nan")}  # fmt: skip
    rng = np.random.default_rng([config.seed, 7919])
    folds = np.empty(n, dtype=np.int64)
    folds[rng.permutation(n)] = np.arange(n) % k
    pred = np.empty(n)
    sub = replace(config, gate_folds=0, val_fraction=0.0)
    for f in range(k):
        test, fit = folds == f, folds != f
        fold_model = train_nao(
            tokens[fit], values[fit], spec, replace(sub, seed=config.seed + 1 + f),
            augment=augment,
        )  # fmt: skip
        with torch.no_grad():
            pred[test] = fold_model.encode_predict_grad(torch.as_tensor(tokens[test]))[1].numpy()
    p = ranking_gate_p_value(values, pred, folds, rng, config.gate_permutations)
    s = pairs = right = valid = 0.0
    for f in range(k):
        v, q = values[folds == f], pred[folds == f]
        s += kendall_s(v, q)
        m = len(v)
        pairs += m * (m - 1) / 2
        distinct = m * (m - 1) / 2 - _tied_pairs(v)
        valid += distinct
        right += pairwise_accuracy(v, q) * distinct if distinct else 0.0
    return {
        **out,
        "gate_p_value": p,
        "gate_passed": float(p <= config.gate_alpha),
        "cv_kendall": s / pairs,
        "cv_pairwise": right / valid if valid else float("nan"),
    }


def _tied_pairs(v: np.ndarray) -> float:
    _, counts = np.unique(v, return_counts=True)
    return float(np.sum(counts * (counts - 1) / 2))


@torch.no_grad()
def evaluate(model: NAOModel, tokens: np.ndarray, values: np.ndarray, prefix: str = "") -> dict:
    """Pairwise accuracy, Kendall τ and exact-sequence reconstruction rate on a set."""
    x = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
    emb, pred, _ = model.encode_predict_grad(x)
    decoded = model.decode(emb).numpy()
    pred = pred.numpy()
    return {
        f"{prefix}pairwise": pairwise_accuracy(values, pred),
        f"{prefix}kendall": kendall_tau(values, pred),
        f"{prefix}reconstruction": float((decoded == tokens).all(axis=1).mean()),
    }


def _check(tokens: np.ndarray, values: np.ndarray, spec: TokenSpec) -> None:
    if tokens.ndim != 2 or tokens.shape[1] != spec.length:
        raise ValueError(f"tokens must have shape (n, {spec.length}), got {tokens.shape}")
    if values.shape != (len(tokens),):
        raise ValueError(f"values must have shape ({len(tokens)},), got {values.shape}")
    if len(tokens) < 2:
        raise ValueError("need at least two architectures to train")
    if tokens.min() < 0 or tokens.max() >= spec.vocab_size:
        raise ValueError(f"tokens must be in 0..{spec.vocab_size - 1}")
    allowed = np.asarray(spec.masks, dtype=bool)[np.arange(spec.length), tokens]
    if not allowed.all():
        row, pos = np.argwhere(~allowed)[0]
        raise ValueError(f"row {row}: token {tokens[row, pos]} is masked at position {pos}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite")
