"""Ranking metrics for performance predictors."""

from __future__ import annotations

import numpy as np
from scipy import stats


def pairwise_accuracy(truth: np.ndarray, pred: np.ndarray, chunk: int = 1024) -> float:
    """Share of pairs with distinct true values that the predictions order the same way.

    A predicted tie counts as half right.
    """
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    right = 0.0
    total = 0
    for start in range(0, len(truth), chunk):
        dt = np.sign(truth[start : start + chunk, None] - truth[None, :])
        dp = np.sign(pred[start : start + chunk, None] - pred[None, :])
        valid = dt != 0
        total += int(valid.sum())
        right += float((dt == dp)[valid].sum()) + 0.5 * float((dp == 0)[valid].sum())
    return right / total if total else float("nan")


def kendall_tau(truth: np.ndarray, pred: np.ndarray) -> float:
    """Kendall τ-b between true and predicted values."""
    return float(stats.kendalltau(truth, pred).statistic)
