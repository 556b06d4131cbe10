"""Retry policy shared by both clients: UNAVAILABLE is retried with bounded backoff."""

from __future__ import annotations

import random

import grpc

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


def delay(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (0-based): 0.3 s × 1.41^min(n, 9), ±20 % jitter."""
    return 0.3 * 1.41 ** min(attempt, 9) * random.uniform(0.8, 1.2)


def should_retry(err: grpc.RpcError, attempt: int, retries: int) -> bool:
    return attempt < retries and err.code() in RETRYABLE
