"""What strategies see of a study's model: predictions and NAO steps on architectures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.predictor.runtime import NAOPredictor
from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace


@dataclass(frozen=True)
class ModelHandle:
    """A loaded, parity-checked model version of one study. Immutable: swapped as a whole."""

    version: int
    predictor: NAOPredictor
    space: SearchSpace
    sign: float  # +1 when the study maximises; strategies always maximise
    path: Path | str | None = None  # the version's folder (strategy hosts load it from there)

    @property
    def metadata(self) -> dict[str, Any]:
        return self.predictor.metadata

    @property
    def validated(self) -> bool:
        """Whether the model passed its ranking gate (strategies rank by it only then).

        The gate is a cross-validated permutation test that a ranker ignoring the values
        passes at most `gate_alpha` (5 %) of the time; see `archsampler_models.train`.
        Models exported before the gate existed do not pass.
        """
        return bool(self.metadata.get("metrics", {}).get("gate_passed", 0.0))

    def tokens(self, archs: Sequence[Arch]) -> np.ndarray:
        return np.array([self.space.to_tokens(a) for a in archs], dtype=np.int64)

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted values in the study's units."""
        if not archs:
            return np.zeros(0)
        return self.predictor.predict(self.tokens(archs)).astype(np.float64)

    def score(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted values, higher is better (what strategies rank by)."""
        return self.sign * self.predict(archs)

    def nao_step(self, archs: Sequence[Arch], eta: float) -> list[Arch | None]:
        """Move each architecture's embedding up the predicted value by `eta`, decode."""
        tokens = self.predictor.nao_step(self.tokens(archs), self.sign * eta)
        return [self.space.from_tokens(list(t)) for t in tokens]
