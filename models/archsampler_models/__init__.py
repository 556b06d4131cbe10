"""NAO networks (torch): encoder, performance predictor and decoder; training and ONNX export."""

from __future__ import annotations

from archsampler_models.nao import NAOConfig
from archsampler_models.nao import NAOModel
from archsampler_models.train import train_nao

__all__ = ["NAOConfig", "NAOModel", "train_nao"]
