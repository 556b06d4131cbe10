"""NAO networks: LSTM encoder, MLP performance predictor with a closed-form gradient, and an
attention LSTM decoder with per-position vocabulary masks.

The predictor's gradient with respect to the embedding is written out by hand (a tanh MLP
backpropagated in `forward`), so the exported ONNX graph computes it without autograd.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archsampler_models.tokens import TokenSpec


@dataclass(frozen=True)
class NAOConfig:
    """Network sizes and training settings.

    Attributes:
        embed_dim: token embedding size.
        hidden_dim: LSTM hidden size (encoder and decoder; the embedding is (length, hidden_dim)).
        mlp_width: width of the predictor's hidden layers.
        mlp_layers: number of tanh hidden layers in the predictor.
        positional: give each (position, token) pair its own input embedding.
        target: training target, "rank" (normal scores of ranks) or "standard".
        trade_off: λ in `λ·MSE + (1-λ)·CE`.
        rank_weight: weight of an added pairwise logistic ranking loss on predictions.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        epochs: passes over the training set.
        min_steps: more epochs for small sets, so that the decoder gets at least this many
            optimiser steps.
        batch_size: minibatch size.
        val_fraction: share of the data held out to report validation metrics (the model
            then trains on the rest; 0: train on everything).
        gate_folds: folds of the cross-validation that decides whether the model ranks
            better than chance (`metrics["gate_passed"]`); 0 or 1: no gate (not passed).
            Costs `gate_folds` extra trainings; the service and `bench search` use 4.
        gate_alpha: the gate passes when the permutation p-value of the out-of-fold
            ranking (Kendall's S within folds) is at most this.
        gate_permutations: random within-fold shuffles for that p-value.
        seed: seed for weights, the split and minibatch order.
    """

    embed_dim: int = 48
    hidden_dim: int = 96
    mlp_width: int = 64
    mlp_layers: int = 2
    positional: bool = True
    target: str = "rank"
    trade_off: float = 0.8
    rank_weight: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 100
    min_steps: int = 2000
    batch_size: int = 64
    val_fraction: float = 0.0
    gate_folds: int = 0
    gate_alpha: float = 0.05
    gate_permutations: int = 2000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Encoder(nn.Module):
    """Token embedding + single-layer LSTM; unit-normalised hidden states are the embedding."""

    def __init__(
        self, length: int, vocab_size: int, embed_dim: int, hidden_dim: int, positional: bool
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size * (length if positional else 1), embed_dim)
        offsets = torch.arange(length) * vocab_size if positional else torch.zeros(length)
        self.register_buffer("offsets", offsets.long())
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens + self.offsets))
        return F.normalize(out, dim=-1)


class Predictor(nn.Module):
    """Mean-pool → tanh MLP → scalar; returns the prediction and its gradient."""

    def __init__(self, hidden_dim: int, width: int, layers: int) -> None:
        super().__init__()
        dims = [hidden_dim] + [width] * layers
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.out = nn.Linear(dims[-1], 1)

    def forward(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = emb.shape[1]
        x = emb.mean(dim=1)
        acts = []
        for lin in self.hidden:
            x = torch.tanh(lin(x))
            acts.append(x)
        pred = self.out(x).squeeze(-1)
        g = self.out.weight.expand(emb.shape[0], -1)
        for lin, a in zip(reversed(self.hidden), reversed(acts), strict=True):
            g = (g * (1.0 - a * a)) @ lin.weight
        grad = (g / length).unsqueeze(1).expand(-1, length, -1)
        return pred, grad


class Decoder(nn.Module):
    """Autoregressive LSTM with dot-product attention over the embedding; masked logits."""

    def __init__(self, spec: TokenSpec, embed_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.length = spec.length
        self.vocab_size = spec.vocab_size
        self.embed = nn.Embedding(spec.vocab_size + 1, embed_dim)  # last id = start token
        self.cell = nn.LSTMCell(embed_dim, hidden_dim)
        self.out = nn.Linear(2 * hidden_dim, spec.vocab_size)
        masks = torch.as_tensor(np.array(spec.masks, dtype=bool))  # a writable copy
        bias = torch.zeros(masks.shape).masked_fill(~masks, float("-inf"))
        self.register_buffer("mask_bias", bias)

    def _step(
        self, r: int, prev: torch.Tensor, h: torch.Tensor, c: torch.Tensor, emb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, c = self.cell(self.embed(prev), (h, c))
        att = torch.softmax((emb @ h.unsqueeze(-1)).squeeze(-1), dim=-1)
        ctx = (att.unsqueeze(-1) * emb).sum(dim=1)
        logits = self.out(torch.cat([h, ctx], dim=-1)) + self.mask_bias[r]
        return logits, h, c

    def _start(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = emb[:, -1]
        prev = torch.full_like(emb[:, 0, 0], self.vocab_size, dtype=torch.long)
        return prev, h, torch.zeros_like(h)

    def forward(self, emb: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (batch, length, vocab)."""
        prev, h, c = self._start(emb)
        out = []
        for r in range(self.length):
            logits, h, c = self._step(r, prev, h, c, emb)
            out.append(logits)
            prev = targets[:, r]
        return torch.stack(out, dim=1)

    def greedy(self, emb: torch.Tensor) -> torch.Tensor:
        """Greedy decode (batch, length) int64; only tokens allowed by the masks."""
        prev, h, c = self._start(emb)
        out = []
        for r in range(self.length):
            logits, h, c = self._step(r, prev, h, c, emb)
            prev = logits.argmax(dim=-1)
            out.append(prev)
        return torch.stack(out, dim=1)


class NAOModel(nn.Module):
    """Encoder, predictor and decoder of one space, plus the value scaling used in training.

    Predictions are on the training-target scale; `scaling` (see
    `archsampler.predictor.scaling.unscale`) maps them back to values.
    """

    def __init__(self, spec: TokenSpec, config: NAOConfig | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.config = config or NAOConfig()
        cfg = self.config
        self.encoder = Encoder(
            spec.length, spec.vocab_size, cfg.embed_dim, cfg.hidden_dim, cfg.positional
        )
        self.predictor = Predictor(cfg.hidden_dim, cfg.mlp_width, cfg.mlp_layers)
        self.decoder = Decoder(spec, cfg.embed_dim, cfg.hidden_dim)
        self.scaling: dict[str, Any] = {"kind": "standard", "mean": 0.0, "std": 1.0}
        self.metrics: dict[str, float] = {}
        self.train_size = 0

    def encode_predict_grad(
        self, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embedding (B, L, H), standardised prediction (B,), d prediction / d embedding."""
        emb = self.encoder(tokens)
        pred, grad = self.predictor(emb)
        return emb, pred, grad

    def predict_from_embedding(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised prediction and its gradient for a (possibly moved) embedding."""
        return self.predictor(emb)

    def decode(self, emb: torch.Tensor) -> torch.Tensor:
        """Greedy token decode of an embedding."""
        return self.decoder.greedy(emb)

    def loss(
        self, tokens: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Joint loss and its MSE / CE parts (ranking term added when `rank_weight` > 0)."""
        lam = self.config.trade_off
        emb = self.encoder(tokens)
        pred, _ = self.predictor(emb)
        mse = F.mse_loss(pred, targets)
        logits = self.decoder(emb, tokens)
        ce = F.cross_entropy(logits.reshape(-1, self.spec.vocab_size), tokens.reshape(-1))
        total = lam * mse + (1.0 - lam) * ce
        if self.config.rank_weight > 0:
            diff_t = targets.unsqueeze(0) - targets.unsqueeze(1)
            diff_p = pred.unsqueeze(0) - pred.unsqueeze(1)
            sign = torch.sign(diff_t)
            rank = (F.softplus(-sign * diff_p) * sign.abs()).sum() / sign.abs().sum().clamp_min(1)
            total = total + self.config.rank_weight * rank
        return total, mse, ce
