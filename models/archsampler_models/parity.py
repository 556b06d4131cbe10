"""Parity of exported NAO graphs against torch's outputs, on any ONNX Runtime provider.

The exporter (torch) writes the reference outputs of 1,000 architectures to `parity.npz`
next to the graphs; `check_sessions` runs the sessions that will serve (whatever their
execution provider) on the same inputs and compares, so parity is checked where the model
serves, in a process without torch. Greedy decodes are compared token by token: where ONNX
picks another token than torch, torch's logits at that step decide. When torch's best and
second-best logits were within `tie_tolerance` there and ONNX picked that second-best token,
it is a near-tie flip (counted, not a failure); any other difference fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = "parity.npz"
PARITY_TOL = 1e-5
TIE_TOL = 1e-4
"""A decode flip is a near-tie when torch's top-two logit margin is <= TIE_TOL * max(1, |top|)."""


class ParityError(RuntimeError):
    """An exported graph disagrees with the torch model; the export is not used."""

    path: Path | None = None


def greedy_margins(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-two margin, second-best token and tie tolerance of (B, L, V) step logits."""
    logits = np.asarray(logits, dtype=np.float64)
    top2 = np.argsort(-logits, axis=-1)[..., :2]
    best = np.take_along_axis(logits, top2[..., :1], axis=-1)[..., 0]
    second = np.take_along_axis(logits, top2[..., 1:2], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        margin = np.where(np.isfinite(second), best - second, np.inf)
    return margin, top2[..., 1], TIE_TOL * np.maximum(1.0, np.abs(best))


def decode_flips(
    ref: np.ndarray, got: np.ndarray, margin: np.ndarray, second: np.ndarray, tie: np.ndarray
) -> tuple[int, int]:
    """(near-tie flips, real mismatches) between torch (`ref`) and ONNX (`got`) decodes.

    `margin`, `second`, `tie` come from `greedy_margins` of torch's logits along `ref`.
    Only the first differing step of a sequence is judged: after it the prefixes differ.
    """
    ref, got = np.asarray(ref), np.asarray(got)
    if ref.shape != got.shape:
        return 0, len(ref)
    differs = ref != got
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return 0, 0
    step = differs[rows].argmax(axis=1)
    near = (margin[rows, step] <= tie[rows, step]) & (got[rows, step] == second[rows, step])
    return int(near.sum()), int((~near).sum())


def max_err(ref: np.ndarray, got: np.ndarray) -> float:
    """Largest absolute difference (inf when the shapes differ)."""
    ref, got = np.asarray(ref), np.asarray(got)
    if ref.shape != got.shape:
        return float("inf")
    return float(np.max(np.abs(ref.astype(np.float64) - got), initial=0.0))


def check_sessions(
    sessions: dict[str, Any], reference: dict[str, np.ndarray], tol: float = PARITY_TOL
) -> dict[str, float]:
    """Run `sessions` on the reference inputs and compare with torch's outputs.

    Args:
        sessions: ONNX Runtime sessions by graph name (`encode_predict_grad`,
            `predict_from_embedding`, `decode`).
        reference: the arrays of `parity.npz` (see `archsampler_models.export`).
        tol: largest absolute error allowed on embeddings, predictions and gradients.

    Returns:
        The errors, the number of architectures and of near-tie decode flips.

    Raises:
        ParityError: with the largest error, or the number of decodes that differ for real.
    """
    r = reference
    o_emb, o_pred, o_grad = sessions["encode_predict_grad"].run(None, {"tokens": r["tokens"]})
    o_mpred, o_mgrad = sessions["predict_from_embedding"].run(None, {"embedding": r["moved"]})
    o_dec = sessions["decode"].run(None, {"embedding": r["embedding"]})[0]
    o_mdec = sessions["decode"].run(None, {"embedding": r["moved"]})[0]
    errors = {
        "embedding": max_err(r["embedding"], o_emb),
        "prediction": max_err(r["prediction"], o_pred),
        "gradient": max_err(r["gradient"], o_grad),
        "moved_prediction": max_err(r["moved_prediction"], o_mpred),
        "moved_gradient": max_err(r["moved_gradient"], o_mgrad),
    }
    worst = max(errors, key=errors.__getitem__)
    if not errors[worst] <= tol:
        raise ParityError(f"ONNX {worst} differs from torch by {errors[worst]:.3g} > {tol:g}")
    ties = 0
    n = len(r["tokens"])
    for label, key, got in (("decode", "decode", o_dec), ("moved decode", "moved_decode", o_mdec)):
        near, bad = decode_flips(
            r[key], got, r[f"{key}_margin"], r[f"{key}_second"], r[f"{key}_tie"]
        )
        if bad:
            raise ParityError(
                f"ONNX {label} differs from torch on {bad} of {n} sequences beyond near-ties "
                f"(torch's top-two logits farther apart than {TIE_TOL:g} relative)"
            )
        ties += near
    return {**errors, "architectures": float(n), "decode_near_ties": float(ties)}


def load_reference(folder: str | Path) -> dict[str, np.ndarray] | None:
    """The reference arrays of a model directory, or None when it has none (older exports)."""
    path = Path(folder) / REFERENCE
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
