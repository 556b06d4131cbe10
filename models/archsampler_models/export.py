"""ONNX export of the NAO inference path, with a parity check against torch.

A model directory holds three graphs and `metadata.json`:

- `encode_predict_grad.onnx`: tokens (B, L) int64 → embedding (B, L, H), prediction (B,),
  gradient (B, L, H) of the prediction with respect to the embedding;
- `predict_from_embedding.onnx`: embedding → prediction, gradient;
- `decode.onnx`: embedding → tokens (B, L) int64 (greedy, masked).

Predictions are on the training-target scale; metadata["scaling"] maps them to values.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from archsampler.spaces.base import TokenSpec
from archsampler_models.nao import NAOModel

FORMAT_VERSION = 1
OPSET = 17
GRAPHS = ("encode_predict_grad", "predict_from_embedding", "decode")
PARITY_TOL = 1e-5


class ParityError(RuntimeError):
    """An exported graph disagrees with the torch model; the export is not used."""


class _EncodePredictGrad(nn.Module):
    def __init__(self, model: NAOModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.encode_predict_grad(tokens)


class _PredictFromEmbedding(nn.Module):
    def __init__(self, model: NAOModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.predict_from_embedding(embedding)


class _Decode(nn.Module):
    def __init__(self, model: NAOModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.model.decode(embedding)


def random_tokens(spec: TokenSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` sequences with each position drawn uniformly among its allowed tokens."""
    masks = np.asarray(spec.masks, dtype=bool)
    out = np.empty((n, spec.length), dtype=np.int64)
    for i in range(spec.length):
        out[:, i] = rng.choice(np.flatnonzero(masks[i]), size=n)
    return out


def export_nao(
    model: NAOModel,
    out_dir: str | Path,
    *,
    space_spec: dict[str, Any] | None = None,
    parity_tokens: np.ndarray | None = None,
    n_parity: int = 1000,
    seed: int = 0,
) -> Path:
    """Export `model` to `out_dir` (replaced) after a parity check; return the directory.

    Args:
        model: a trained model.
        out_dir: destination; written only when every graph passes parity.
        space_spec: the space's `spec()`, stored in the metadata.
        parity_tokens: architectures for the parity check (default: `n_parity` random ones).
        n_parity: number of random architectures when `parity_tokens` is None.
        seed: seed for the random parity architectures.

    Raises:
        ParityError: an ONNX graph differs from torch by more than 1e-5, decodes a different
            sequence, or leaves an input unused.
    """
    model = model.eval()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if parity_tokens is None:
        parity_tokens = random_tokens(model.spec, n_parity, np.random.default_rng(seed))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _export_graphs(model, tmp)
        parity = check_parity(model, tmp, parity_tokens)
        _write_metadata(model, tmp, space_spec, parity)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _export_graphs(model: NAOModel, folder: Path) -> None:
    spec, hidden = model.spec, model.config.hidden_dim
    tokens = torch.as_tensor(random_tokens(spec, 3, np.random.default_rng(1)))
    emb = torch.randn(3, spec.length, hidden)
    batch = {0: "batch"}
    jobs = [
        ("encode_predict_grad", _EncodePredictGrad(model), tokens, ["tokens"],
         ["embedding", "prediction", "gradient"]),
        ("predict_from_embedding", _PredictFromEmbedding(model), emb, ["embedding"],
         ["prediction", "gradient"]),
        ("decode", _Decode(model), emb.clone(), ["embedding"], ["tokens"]),
    ]  # fmt: skip
    for name, module, example, inputs, outputs in jobs:
        path = folder / f"{name}.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation and trace notices
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes={n: batch for n in inputs + outputs},
                opset_version=OPSET,
                dynamo=False,
            )
        _check_inputs_used(path)


def _check_inputs_used(path: Path) -> None:
    graph = onnx.load(str(path)).graph
    used = {i for node in graph.node for i in node.input} | {o.name for o in graph.output}
    unused = [i.name for i in graph.input if i.name not in used]
    if unused:
        raise ParityError(f"{path.name}: graph inputs {unused} are unused")


def check_parity(
    model: NAOModel, folder: str | Path, tokens: np.ndarray, tol: float = PARITY_TOL
) -> dict[str, float]:
    """Compare the ONNX graphs in `folder` with `model` on `tokens` (CPU, float32).

    Checks embedding, prediction and gradient (max abs error ≤ `tol`), the prediction and
    gradient at the embedding moved one gradient step, and identical greedy decodes of both.

    Raises:
        ParityError: with the largest error found.
    """
    folder = Path(folder)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = {
        g: ort.InferenceSession(
            str(folder / f"{g}.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        for g in GRAPHS
    }
    x = np.asarray(tokens, dtype=np.int64)
    with torch.no_grad():
        t_emb, t_pred, t_grad = (v.numpy() for v in model.encode_predict_grad(torch.as_tensor(x)))
        moved = t_emb + t_grad
        t_mpred, t_mgrad = (v.numpy() for v in model.predict_from_embedding(torch.tensor(moved)))
        t_dec = model.decode(torch.as_tensor(t_emb)).numpy()
        t_mdec = model.decode(torch.as_tensor(moved)).numpy()
    o_emb, o_pred, o_grad = sess["encode_predict_grad"].run(None, {"tokens": x})
    o_mpred, o_mgrad = sess["predict_from_embedding"].run(None, {"embedding": moved})
    o_dec = sess["decode"].run(None, {"embedding": t_emb})[0]
    o_mdec = sess["decode"].run(None, {"embedding": moved})[0]
    errors = {
        "embedding": _max_err(t_emb, o_emb),
        "prediction": _max_err(t_pred, o_pred),
        "gradient": _max_err(t_grad, o_grad),
        "moved_prediction": _max_err(t_mpred, o_mpred),
        "moved_gradient": _max_err(t_mgrad, o_mgrad),
    }
    worst = max(errors, key=errors.__getitem__)
    if not errors[worst] <= tol:
        raise ParityError(f"ONNX {worst} differs from torch by {errors[worst]:.3g} > {tol:g}")
    for label, ref, got in (("decode", t_dec, o_dec), ("moved decode", t_mdec, o_mdec)):
        if ref.shape != got.shape or not np.array_equal(ref, got):
            bad = int((np.asarray(ref) != np.asarray(got)).any(axis=-1).sum())
            raise ParityError(f"ONNX {label} differs from torch on {bad} of {len(x)} sequences")
    return {**errors, "architectures": float(len(x))}


def _max_err(ref: np.ndarray, got: np.ndarray) -> float:
    if ref.shape != got.shape:
        return float("inf")
    return float(np.max(np.abs(ref.astype(np.float64) - got), initial=0.0))


def _write_metadata(
    model: NAOModel, folder: Path, space_spec: dict[str, Any] | None, parity: dict[str, float]
) -> None:
    spec = model.spec
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "nao",
        "graphs": {g: f"{g}.onnx" for g in GRAPHS},
        "opset": OPSET,
        "torch_version": torch.__version__,
        "space": space_spec,
        "token_spec": {
            "length": spec.length,
            "vocab_size": spec.vocab_size,
            "masks": np.asarray(spec.masks, dtype=bool).astype(int).tolist(),
        },
        "config": model.config.to_dict(),
        "train_size": model.train_size,
        "metrics": model.metrics,
        "scaling": model.scaling,
        "parity": parity,
    }
    (folder / "metadata.json").write_text(json.dumps(meta, indent=2))
