"""In-process NAO training for `bench search`: `nao` and `<strategy>+nao` searchers.

The service trains models in a child process; the benchmark trains in-process (it is
single-threaded per seed anyway) with the same torch training, ONNX export and parity
check, and hands the ORT model to the strategy exactly as the service does.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from archsampler.bench.search_runner import StrategySearcher
from archsampler.config import Settings
from archsampler.predictor.handle import ModelHandle
from archsampler.predictor.manager import retrain_interval
from archsampler.predictor.parity import ParityError
from archsampler.predictor.runtime import NAOPredictor
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.strategies.base import Strategy
from archsampler.strategies.base import UsesModel

log = logging.getLogger(__name__)
_DEFAULTS = Settings.model_fields  # when the service trains with its default settings
FIRST: int = _DEFAULTS["model_min_trials"].default
EVERY: int = _DEFAULTS["model_retrain_every"].default
GATE_RETRY: int = _DEFAULTS["model_gate_retry_every"].default
CONFIG: dict[str, Any] = {"epochs": 30, "min_steps": 300, "gate_folds": 4}  # as the service


class ModelSearcher(StrategySearcher):
    """Drives a `UsesModel` strategy, retraining its NAO model as evaluations accumulate."""

    def __init__(self, strategy: Strategy, space: SearchSpace, seed: int) -> None:
        if not isinstance(strategy, UsesModel):
            raise ValueError(f"strategy {strategy.name!r} cannot use a predictor")
        super().__init__(strategy)
        self.space = space
        self.seed = seed
        self.tokens: list[list[int]] = []
        self.values: list[float] = []
        self.trained_at = 0
        self.version = 0
        self.refused = 0  # exports refused by the parity check
        self.gate_failures = 0  # consecutive models that failed the ranking gate
        self._dir = tempfile.TemporaryDirectory(prefix="archsampler-bench-nao-")

    def tell(self, arch: Arch, value: float | None) -> None:
        super().tell(arch, value)
        if value is None:
            return
        self.tokens.append(self.space.to_tokens(arch))
        self.values.append(value)
        n = len(self.values)
        every = retrain_interval(EVERY, GATE_RETRY, self.gate_failures)
        if n >= FIRST and n - self.trained_at >= (every if self.trained_at else 0):
            self._train()

    def _train(self) -> None:
        import torch

        from archsampler_models.export import export_nao
        from archsampler_models.nao import NAOConfig
        from archsampler_models.train import train_nao

        torch.set_num_threads(1)  # one core per benchmark worker
        self.version += 1
        config = NAOConfig(**CONFIG, seed=self.seed + self.version)
        model = train_nao(
            np.array(self.tokens), np.array(self.values), self.space.token_spec(), config
        )
        try:
            path = export_nao(model, Path(self._dir.name) / f"v{self.version}", n_parity=200)
            predictor = NAOPredictor.load(path, threads=1)  # checked again where it serves
        except ParityError as e:  # the previous model stays; the search goes on
            self.refused += 1
            self.version -= 1
            self.trained_at = len(self.values)
            log.warning(
                "seed %d: model export refused (%s); the previous model stays", self.seed, e
            )
            return
        handle = ModelHandle(self.version, predictor, self.space, 1.0)
        self.strategy.set_model(handle if handle.validated else None)
        self.gate_failures = 0 if handle.validated else self.gate_failures + 1
        self.trained_at = len(self.values)
