"""Predictor runtime: exported NAO models served by ONNX Runtime (no torch import)."""

from __future__ import annotations

from archsampler.predictor.runtime import NAOPredictor

__all__ = ["NAOPredictor"]
