"""Real training for `bench mlp`: scikit-learn's digits, a fixed split, torch MLPs.

Data: `sklearn.datasets.load_digits` (1,797 8x8 images, 10 classes), split once with
`SPLIT_SEED` into train / valid / test = 1,078 / 359 / 360 (stratified), standardised with
the train split's mean and deviation.

Training (the overview paper's child-network recipe): the MLP's hidden layers, then a
linear layer to the 10 classes (softmax in the cross-entropy loss); Adam at learning rate
1e-3, batch 32 (Keras's default), `epochs` epochs (paper: 10; no early stopping); one
thread (`torch.set_num_threads(1)`). The trial's value is the validation accuracy after
the last epoch; the test accuracy of the same weights is recorded too. The paper's test
figures come after 50 more epochs of fine-tuning of the best network, which this bench
does not do.

Determinism: the weights and the batch order come from the training seed alone, and
single-threaded CPU training is bit-for-bit repeatable, so an (architecture, seed,
epochs) result may be cached (`Evaluator`, optionally in a SQLite file).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archsampler.spaces.mlp import MLPArch
from archsampler.spaces.mlp import MLPSpace

SPLIT_SEED = 0
BATCH = 32
LR = 1e-3
RECIPE = f"digits-split{SPLIT_SEED}-std-adam{LR:g}-b{BATCH}"
"""Part of every cache key: a change of data or recipe never reuses old results."""


@dataclass(frozen=True)
class Digits:
    """The fixed split as float32 features and int64 labels (numpy arrays)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_digits_split() -> Digits:
    """The benchmark's split (same every call): 60 / 20 / 20 %, stratified, standardised."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.4, random_state=SPLIT_SEED, stratify=y
    )
    X_valid, X_test, y_valid, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, random_state=SPLIT_SEED, stratify=y_rest
    )
    scaler = StandardScaler().fit(X_train)

    def f(a: np.ndarray) -> np.ndarray:
        return scaler.transform(a).astype(np.float32)

    return Digits(
        f(X_train),
        y_train.astype(np.int64),
        f(X_valid),
        y_valid.astype(np.int64),
        f(X_test),
        y_test.astype(np.int64),
    )


def train_mlp(arch: MLPArch, data: Digits, seed: int, epochs: int) -> tuple[float, float]:
    """Train `arch` from seed `seed` for `epochs` epochs; (validation, test) accuracy."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    activations = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    width = data.X_train.shape[1]
    for out, act, dropout in arch:
        layers += [nn.Linear(width, out), activations[act]()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = out
    layers.append(nn.Linear(width, int(data.y_train.max()) + 1))
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=LR, foreach=True)
    loss_fn = nn.CrossEntropyLoss()
    X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=order)
        X_epoch, y_epoch = X[perm], y[perm]  # batches are then views, not gathers
        for start in range(0, len(X), BATCH):
            opt.zero_grad()
            batch = slice(start, start + BATCH)
            loss_fn(model(X_epoch[batch]), y_epoch[batch]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        valid = model(torch.from_numpy(data.X_valid)).argmax(1).numpy() == data.y_valid
        test = model(torch.from_numpy(data.X_test)).argmax(1).numpy() == data.y_test
    return float(valid.mean()), float(test.mean())


class Evaluator:
    """Trains architectures with a cache keyed by (canonical hash, seed, epochs, recipe).

    The cache is shared by every strategy the evaluator serves; with `path` it is a SQLite
    file shared by processes and runs (a rerun reuses finished trainings).
    """

    def __init__(self, data: Digits, epochs: int, path: Path | None = None) -> None:
        self.data = data
        self.epochs = epochs
        self.space = MLPSpace()
        self.memory: dict[str, tuple[float, float, float]] = {}
        self.hits = 0
        self.trained = 0
        self.train_seconds = 0.0
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS trainings (key TEXT PRIMARY KEY, valid REAL, "
                "test REAL, seconds REAL)"
            )

    def key(self, arch: MLPArch, seed: int) -> str:
        return f"{self.space.canonical_hash(arch)}|seed={seed}|epochs={self.epochs}|{RECIPE}"

    def __call__(self, arch: MLPArch, seed: int) -> tuple[float, float, float]:
        """(validation accuracy, test accuracy, seconds the training took when it ran)."""
        key = self.key(arch, seed)
        found = self.memory.get(key) or self._lookup(key)
        if found is not None:
            self.hits += 1
            self.memory[key] = found
            return found
        start = time.perf_counter()
        valid, test = train_mlp(arch, self.data, seed, self.epochs)
        seconds = time.perf_counter() - start
        self.trained += 1
        self.train_seconds += seconds
        self.memory[key] = (valid, test, seconds)
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO trainings VALUES (?, ?, ?, ?)", (key, valid, test, seconds)
            )
        return valid, test, seconds

    def _lookup(self, key: str) -> tuple[float, float, float] | None:
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT valid, test, seconds FROM trainings WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else (float(row[0]), float(row[1]), float(row[2]))

    def stats(self) -> dict[str, Any]:
        return {"trained": self.trained, "hits": self.hits, "train_seconds": self.train_seconds}


def sklearn_baseline(data: Digits, seed: int) -> tuple[float, float]:
    """scikit-learn's `MLPClassifier` with its documented defaults (one hidden layer of
    100 ReLU units, Adam at 1e-3, batch min(200, n), up to 200 epochs, L2 1e-4) and
    `random_state=seed`, fitted on the train split; (validation, test) accuracy."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):  # one thread, as the trials
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(random_state=seed).fit(data.X_train, data.y_train)
    return (
        float(clf.score(data.X_valid, data.y_valid)),
        float(clf.score(data.X_test, data.y_test)),
    )
