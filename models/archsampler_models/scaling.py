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
    # Moments of values / size, so that values near the float limit do not overflow them.
    size = float(np.abs(values).max(initial=0.0)) or 1.0
    unit = values / size
    mean, std = size * float(unit.mean()), size * float(unit.std()) or 1.0
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
    """Values on the user's scale for predictor outputs (monotone, also beyond the data;
    always finite: clipped to the float range when values lie near its limits)."""
    pred = np.asarray(pred, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if scaling["kind"] == "standard":
            out = scaling["mean"] + scaling["std"] * pred
        else:
            xs, ys = np.asarray(scaling["scores"]), np.asarray(scaling["values"])
            slope = scaling["slope"]
            size = float(np.abs(ys).max(initial=0.0)) or 1.0  # no overflow between far values
            out = np.interp(pred, xs, ys / size) * size
            out = np.where(pred < xs[0], ys[0] + slope * (pred - xs[0]), out)
            out = np.where(pred > xs[-1], ys[-1] + slope * (pred - xs[-1]), out)
    top = np.finfo(np.float64).max
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=top, neginf=-top), -top, top)
