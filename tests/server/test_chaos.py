"""SIGKILL under load: no acknowledged report lost, no architecture pending twice."""

from __future__ import annotations

import argparse

import pytest

from archsampler.bench.chaos import run_chaos


def chaos_args(**kw) -> argparse.Namespace:
    base = dict(kills=2, clients=8, replicas=1, interval=2.0, strategy="random")
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("replicas", [1, 2])
def test_kills_lose_nothing(db_url: str, replicas: int) -> None:
    if replicas == 2 and not db_url.startswith("postgresql"):
        pytest.skip("several replicas share a PostgreSQL database, not an SQLite file")
    result = run_chaos(db_url, chaos_args(replicas=replicas))
    assert result["acked"] > 0, result
    assert result["lost"] == 0, result
    assert result["duplicate_pending"] == 0, result
    assert result["duplicate_live"] == 0, result
    assert result["duplicate_evaluated"] == 0, result
    assert result["stored_trials"] >= result["acked"]
