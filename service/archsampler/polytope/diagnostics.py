"""Effective sample size of MCMC output (Geyer's initial monotone sequence estimator)."""

from __future__ import annotations

import numpy as np


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Biased autocovariance along axis 1 of (chains, draws, k), by FFT."""
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(centred, n=size, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n]
    return acov / n


def ess(samples: np.ndarray) -> np.ndarray:
    """Multi-chain effective sample size of every coordinate.

    The estimator of Gelman et al. (BDA3, ch. 11.5), as in Stan without rank normalisation:
    the autocorrelation combines within-chain autocovariances with the between-chain
    variance, and the sum of autocorrelations is truncated with Geyer's initial monotone
    sequence (pairs summed until the first negative pair, then made non-increasing).

    Args:
        samples: (chains, draws, k) or (draws, k) array; draws >= 4.

    Returns:
        (k,) effective sample sizes, at most chains * draws * log10(chains * draws)
        (the cap Stan uses against antithetic chains).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    M, n, k = x.shape
    if n < 4:
        raise ValueError("ess needs at least 4 draws per chain")
    acov = _autocovariance(x)
    chain_var = acov[:, 0, :] * n / (n - 1)
    W = chain_var.mean(axis=0)
    between = x.mean(axis=1).var(axis=0, ddof=1) if M > 1 else np.zeros(k)
    var_plus = W * (n - 1) / n + between
    constant = var_plus <= 0
    var_plus = np.where(constant, 1.0, var_plus)
    rho = 1.0 - (W - acov.mean(axis=0)) / var_plus  # (n, k)
    rho[0] = 1.0
    pairs = n // 2
    P = rho[0 : 2 * pairs : 2] + rho[1 : 2 * pairs : 2]  # (pairs, k)
    negative = P < 0
    first_neg = np.where(negative.any(axis=0), negative.argmax(axis=0), pairs)
    P = np.minimum.accumulate(np.maximum(P, 0.0), axis=0)
    keep = np.arange(pairs)[:, None] < first_neg[None, :]
    tau = -1.0 + 2.0 * np.sum(np.where(keep, P, 0.0), axis=0)
    total = M * n
    tau = np.maximum(tau, 1.0 / np.log10(total))
    out = total / tau
    return np.where(constant, np.nan, out)
