"""A real PyTorch trainer for the examples: a small CNN on scikit-learn's digits.

The data ships inside scikit-learn (`load_digits`: 1,797 8×8 grey images, no download).
It is split once, with a fixed seed, into train (60 %), validation (20 %) and test (20 %):
the search sees the validation accuracy only; the test accuracy is for the final report.

`SPACE` is the search space as an archsampler user space (what `Client.create_study`
takes); `train(params, ...)` takes one architecture of it (`trial.params`) and trains it.
The Optuna and Ray Tune examples declare the same space in their platform's own terms.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

SPACE: dict[str, Any] = {
    "params": [
        {"name": "layers", "type": "int", "low": 1, "high": 3},
        {"name": "channels", "type": "int", "low": 8, "high": 32, "step": 8},
        {"name": "kernel", "type": "int", "low": 3, "high": 5, "step": 2},
        {"name": "activation", "type": "categorical", "choices": ["relu", "gelu", "tanh"]},
        {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
        {"name": "lr", "type": "float", "low": 1e-3, "high": 3e-2, "log": True},
    ]
}
"""The architecture search space (archsampler user-space spec)."""

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
SPLIT_SEED = 0
"""Seed of the train / validation / test split (fixed: every trial sees the same split)."""
BATCH = 64


@cache
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The digits as `{"train" | "valid" | "test": (images N×1×8×8 in [0, 1], labels)}`."""
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.from_numpy(np.random.default_rng(SPLIT_SEED).permutation(len(y)))
    n_train, n_valid = int(0.6 * len(y)), int(0.2 * len(y))
    parts = {
        "train": order[:n_train],
        "valid": order[n_train : n_train + n_valid],
        "test": order[n_train + n_valid :],
    }
    return {name: (x[idx], y[idx]) for name, idx in parts.items()}


def build(params: dict[str, Any]) -> nn.Sequential:
    """The CNN of one architecture: `layers` × (conv, activation, 2×2 max-pool), then a
    dropout and a linear classifier. 8×8 inputs: 3 layers pool down to 1×1."""
    act = ACTIVATIONS[params["activation"]]
    width, kernel = int(params["channels"]), int(params["kernel"])
    blocks: list[nn.Module] = []
    for i in range(int(params["layers"])):
        blocks += [nn.Conv2d(1 if i == 0 else width, width, kernel, padding=kernel // 2), act()]
        blocks.append(nn.MaxPool2d(2))
    side = 8 >> int(params["layers"])
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Dropout(float(params["dropout"])),
        nn.Linear(width * side * side, 10),
    )


def accuracy(model: nn.Module, part: str) -> float:
    """The fraction of `part` ("valid" or "test") that `model` classifies right."""
    x, y = data()[part]
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(
    params: dict[str, Any],
    epochs: int = 10,
    seed: int = 0,
    on_epoch: Callable[[int, float], bool | None] | None = None,
) -> dict[str, Any]:
    """Train the architecture `params` (a point of `SPACE`) with Adam for `epochs` epochs.

    After each epoch `on_epoch(epoch, valid_acc)` is called (epochs count from 1); a true
    return value stops training there (early stopping). Returns `{"valid_acc": validation
    accuracy after the last epoch run, "test_acc": test accuracy of the same model,
    "epochs_run": epochs run}`. `seed` fixes the initial weights and the batch order.
    """
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = build(params)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(params["lr"]))
    x, y = data()["train"]
    valid_acc, epochs_run = 0.0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(len(y)).split(BATCH):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
        valid_acc, epochs_run = accuracy(model, "valid"), epoch
        if on_epoch is not None and on_epoch(epoch, valid_acc):
            break
    return {"valid_acc": valid_acc, "test_acc": accuracy(model, "test"), "epochs_run": epochs_run}
