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


def kendall_s(truth: np.ndarray, pred: np.ndarray) -> float:
    """Kendall's S: concordant minus discordant pairs (ties count 0)."""
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    i, j = np.triu_indices(len(truth), k=1)
    return float(np.sum(np.sign(truth[i] - truth[j]) * np.sign(pred[i] - pred[j])))


def ranking_gate_p_value(
    truth: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    rng: np.random.Generator,
    permutations: int = 2000,
) -> float:
    """One-sided permutation p-value that `pred` ranks `truth` better than chance.

    The statistic is Kendall's S summed over groups (the folds of a cross-validation: each
    group's predictions come from one model), so pairs are only compared within a group.
    Under the null hypothesis (predictions independent of the values) the values are
    exchangeable within each group; the p-value is `(1 + #{S_perm >= S}) / (1 + permutations)`
    over `permutations` random within-group shuffles, so a random ranker gets p <= alpha
    with probability at most alpha.
    """
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    groups = np.asarray(groups)
    observed = 0.0
    null = np.zeros(permutations)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        if idx.size < 2:
            continue
        v, p = truth[idx], pred[idx]
        i, j = np.triu_indices(idx.size, k=1)
        sp = np.sign(p[i] - p[j])
        observed += float(np.sum(np.sign(v[i] - v[j]) * sp))
        block = max(1, 4_000_000 // max(1, i.size))
        for start in range(0, permutations, block):
            count = min(block, permutations - start)
            perm = np.argsort(rng.random((count, idx.size)), axis=1)
            vp = v[perm]
            null[start : start + count] += (np.sign(vp[:, i] - vp[:, j]) * sp).sum(axis=1)
    return float((1 + np.sum(null >= observed - 1e-9)) / (1 + permutations))
