"""SIGKILL under load: no acknowledged report lost, no architecture pending twice."""

from __future__ import annotations

import argparse

from archsampler.bench.chaos import run_chaos


def chaos_args(**kw) -> argparse.Namespace:
    base = dict(kills=2, clients=8, replicas=1, interval=2.0, strategy="random")
    return argparse.Namespace(**{**base, **kw})


def check_chaos(db: str, replicas: int) -> None:
    result = run_chaos(db, chaos_args(replicas=replicas))
    assert result["acked"] > 0, result
    assert result["lost"] == 0, result
    assert result["duplicate_pending"] == 0, result
    assert result["duplicate_live"] == 0, result
    assert result["duplicate_evaluated"] == 0, result
    assert result["stored_trials"] >= result["acked"]


def test_kills_lose_nothing(db_url: str) -> None:
    check_chaos(db_url, replicas=1)


def test_two_replicas_on_postgres_lose_nothing_and_never_duplicate(postgres_url: str) -> None:
    check_chaos(postgres_url, replicas=2)
