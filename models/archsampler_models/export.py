"""ONNX export of the NAO inference path, with a parity check against torch.

A model directory holds three graphs and `metadata.json`:

- `encode_predict_grad.onnx`: tokens (B, L) int64 → embedding (B, L, H), prediction (B,),
  gradient (B, L, H) of the prediction with respect to the embedding;
- `predict_from_embedding.onnx`: embedding → prediction, gradient;
- `decode.onnx`: embedding → tokens (B, L) int64 (greedy, masked);
- `parity.npz`: torch's outputs on the parity architectures (`parity_reference`), which the
  serving process checks its own sessions against on load.

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

from archsampler_models.nao import NAOModel
from archsampler_models.parity import PARITY_TOL
from archsampler_models.parity import REFERENCE
from archsampler_models.parity import ParityError
from archsampler_models.parity import check_sessions
from archsampler_models.parity import greedy_margins
from archsampler_models.tokens import TokenSpec

FORMAT_VERSION = 1
OPSET = 17
REFERENCE_FLOATS = 1_000_000  # per embedding-sized array of parity.npz
GRAPHS = ("encode_predict_grad", "predict_from_embedding", "decode")


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
    tol: float = PARITY_TOL,
) -> Path:
    """Export `model` to `out_dir` (replaced) after a parity check; return the directory.

    Args:
        model: a trained model.
        out_dir: destination; written only when every graph passes parity.
        space_spec: the space's `spec()`, stored in the metadata.
        parity_tokens: architectures for the parity check (default: `n_parity` random ones).
        n_parity: number of random architectures when `parity_tokens` is None.
        seed: seed for the random parity architectures.
        tol: largest absolute error allowed (embeddings, predictions, gradients).

    Raises:
        ParityError: an ONNX graph differs from torch by more than `tol`, decodes a different
            sequence (other than a flip at a torch near-tie), or leaves an input unused.
    """
    model = model.eval()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if parity_tokens is None:
        parity_tokens = random_tokens(model.spec, n_parity, np.random.default_rng(seed))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _export_graphs(model, tmp)
        reference = parity_reference(model, parity_tokens)
        parity = check_sessions(_sessions(tmp, None), reference, tol)
        # The serving process re-checks on a bounded subset (embeddings of long sequences
        # would make the file large).
        keep = max(
            1, min(len(parity_tokens), REFERENCE_FLOATS // int(reference["embedding"][0].size))
        )
        np.savez_compressed(tmp / REFERENCE, **{k: v[:keep] for k, v in reference.items()})
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


def parity_reference(model: NAOModel, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Torch's outputs on `tokens`: what every ONNX session must reproduce (`parity.npz`).

    Embedding, prediction and gradient; the embedding moved one gradient step and the
    prediction and gradient there; greedy decodes of both embeddings with, along each
    decode, torch's top-two logit margin, second-best token and tie tolerance per step.
    """
    x = np.asarray(tokens, dtype=np.int64)
    with torch.no_grad():
        emb, pred, grad = model.encode_predict_grad(torch.as_tensor(x))
        moved = emb + grad
        mpred, mgrad = model.predict_from_embedding(moved)
        ref = {
            "tokens": x,
            "embedding": emb.numpy(),
            "prediction": pred.numpy(),
            "gradient": grad.numpy(),
            "moved": moved.numpy(),
            "moved_prediction": mpred.numpy(),
            "moved_gradient": mgrad.numpy(),
        }
        for key, e in (("decode", emb), ("moved_decode", moved)):
            dec = model.decode(e)
            logits = model.decoder(e, dec).numpy()  # teacher-forced along the greedy path
            margin, second, tie = greedy_margins(logits)
            ref[key] = dec.numpy()
            ref[f"{key}_margin"] = margin.astype(np.float32)
            ref[f"{key}_second"] = second.astype(np.int64)
            ref[f"{key}_tie"] = tie.astype(np.float32)
    return ref


def check_parity(
    model: NAOModel,
    folder: str | Path,
    tokens: np.ndarray,
    tol: float = PARITY_TOL,
    providers: list[str] | None = None,
) -> dict[str, float]:
    """Compare the ONNX graphs in `folder` with `model` on `tokens` (float32).

    See `archsampler.predictor.parity.check_sessions` (decode flips at torch near-ties are
    counted, not failures). `providers` default to the CPU; the serving process checks again
    on the provider it serves with (`NAOPredictor.load`).

    Raises:
        ParityError: with the largest error found.
    """
    return check_sessions(_sessions(folder, providers), parity_reference(model, tokens), tol)


def _sessions(folder: str | Path, providers: list[str] | None) -> dict[str, ort.InferenceSession]:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return {
        g: ort.InferenceSession(
            str(Path(folder) / f"{g}.onnx"), opts, providers=providers or ["CPUExecutionProvider"]
        )
        for g in GRAPHS
    }


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
