"""Map between measured values and the predictor's training targets (no torch)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def fit_scaling(values: np.ndarray, target: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Training targets for `values` and the JSON-able map that undoes them.

    `target="standard"`: (v - mean) / std. `target="rank"`: normal scores of the ranks
    (robust to the long low tail of accuracies; only the order of values matters).
    """
    values = np.asarray(values, dtype=np.float64)
    mean, std = float(values.mean()), float(values.std()) or 1.0
    if target == "standard":
        return (values - mean) / std, {"kind": "standard", "mean": mean, "std": std}
    if target != "rank":
        raise ValueError(f"unknown target {target!r}; use 'standard' or 'rank'")
    scores = stats.norm.ppf((stats.rankdata(values) - 0.5) / len(values))
    slope = std / (float(scores.std()) or 1.0)
    return scores, {
        "kind": "rank",
        "scores": np.sort(scores).tolist(),
        "values": np.sort(values).tolist(),
        "slope": slope,
    }


def unscale(pred: np.ndarray, scaling: dict[str, Any]) -> np.ndarray:
    """Values on the user's scale for predictor outputs (monotone, also beyond the data)."""
    pred = np.asarray(pred, dtype=np.float64)
    if scaling["kind"] == "standard":
        return scaling["mean"] + scaling["std"] * pred
    xs, ys, slope = np.asarray(scaling["scores"]), np.asarray(scaling["values"]), scaling["slope"]
    out = np.interp(pred, xs, ys)
    out = np.where(pred < xs[0], ys[0] + slope * (pred - xs[0]), out)
    return np.where(pred > xs[-1], ys[-1] + slope * (pred - xs[-1]), out)
