"""NAO networks (torch): encoder, performance predictor and decoder; training and ONNX export.

The models' contract with the server needs no torch and imports none: `tokens` (a space's
token encoding), `parity` (exported graphs against torch's outputs) and `scaling` (values
to training targets). The torch parts below load on first use, so the server imports the
contract without torch. This package imports nothing of the server (`archsampler`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["NAOConfig", "NAOModel", "train_nao"]


def __getattr__(name: str) -> Any:
    if name in ("NAOConfig", "NAOModel"):
        from archsampler_models import nao

        return getattr(nao, name)
    if name == "train_nao":
        from archsampler_models.train import train_nao

        return train_nao
    raise AttributeError(f"module 'archsampler_models' has no attribute {name!r}")
