"""The training job run in a child process: torch trains, ONNX export checks parity.

Imported only by the child (spawned), so the serving process never imports torch.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from archsampler.predictor.parity import PARITY_TOL

GATE_FOLDS = 4
"""Cross-validation folds of the ranking gate (`NAOConfig.gate_folds`) of service models."""


def train_and_export(
    tokens: np.ndarray,
    values: np.ndarray,
    space_spec: dict[str, Any],
    out_dir: str,
    config: dict[str, Any],
    threads: int = 1,
) -> dict[str, Any]:
    """Train a NAO model on (tokens, values) and export it to `out_dir` after parity.

    `config` holds `NAOConfig` fields (`gate_folds` defaults to `GATE_FOLDS`), plus
    optionally `parity_tol` (the export's tolerance).
    Returns the exported metadata plus `training_seconds`. Raises `ParityError` (nothing is
    written) when the ONNX graphs disagree with torch.
    """
    import torch

    from archsampler.spaces import make_space
    from archsampler_models.export import export_nao
    from archsampler_models.nao import NAOConfig
    from archsampler_models.train import train_nao

    torch.set_num_threads(threads)  # leave the other cores to the server
    t0 = time.perf_counter()
    space = make_space(space_spec)
    config = dict(config)
    tol = float(config.pop("parity_tol", PARITY_TOL))
    config.setdefault("gate_folds", GATE_FOLDS)
    model = train_nao(tokens, values, space.token_spec(), NAOConfig(**config))
    export_nao(model, Path(out_dir), space_spec=space_spec, n_parity=1000, tol=tol)
    path = Path(out_dir) / "metadata.json"
    meta = json.loads(path.read_text())
    meta["training_seconds"] = time.perf_counter() - t0
    tmp = path.with_name(f".metadata.{os.getpid()}.json")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path)  # a child killed here leaves the complete old file, never half a file
    return meta
