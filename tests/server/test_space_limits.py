"""Space size limits, bounded strategy options, true exhaustion and huge floats, on a server."""

from __future__ import annotations

import math
import time
from pathlib import Path

import grpc
import pytest

from archsampler.spaces.user_spec import MAX_SPEC_BYTES
from archsampler.spaces.user_spec import MAX_TOTAL_CHOICES
from archsampler.testing import ServerThread
from archsampler.testing.assertions import expect_error
from archsampler.testing.spaces import categorical_space
from archsampler_client import Client

NB201_NETWORKS = 6_466
BIG = 1e308


expect = expect_error
categorical = categorical_space


def test_oversized_spaces_are_refused_naming_the_limit(client: Client) -> None:
    cases = {
        "256 x 1,024 choices": (categorical(256, 1024), f"the limit is {MAX_TOTAL_CHOICES}"),
        "one param too wide": (categorical(1, 1025), "at most 1024 items"),
        "spec bytes": (categorical(4, 1024, width=100), f"the limit is {MAX_SPEC_BYTES:,}"),
        "constraint terms": (
            {
                "params": [
                    {"name": f"x{i}", "type": "int", "low": 0, "high": 9} for i in range(256)
                ],
                "constraints": [
                    {"coefficients": {f"x{i}": 1 for i in range(256)}, "op": "<=", "bound": 9e3}
                ]
                * 17,
            },
            "4352 coefficients in all; the limit is 4096",
        ),
        "int range": (
            {"params": [{"name": "x", "type": "int", "low": 0, "high": 2**53 + 2}]},
            "params[0].high",
        ),
    }
    for name, (space, match) in cases.items():
        expect(
            grpc.StatusCode.INVALID_ARGUMENT,
            client.create_study,
            "big",
            space=space,
            strategy="random",
            match=match,
        )
        assert client.list_studies() == [], name


def test_the_largest_allowed_space_is_created_and_proposes(client: Client) -> None:
    space = categorical(4, 1024, width=50)  # 4,096 choices of 50 characters: ~220 kB
    start = time.perf_counter()
    study = client.create_study("wide", space=space, strategy="random")
    created = time.perf_counter() - start
    trials = study.propose(count=100)
    assert len({t.arch for t in trials}) == 100
    assert created < 10.0  # generous on a loaded machine; ~0.1 s idle
    (listed,) = client.list_studies()
    assert listed.name == "wide"


@pytest.mark.parametrize(
    ("strategy", "options", "match"),
    [
        ("evolution", {"population": 10_001}, "1..10000"),
        ("evolution", {"population": 20, "sample_size": 21}, "must not exceed"),
        ("evolution", {"population": 0}, "1..10000"),
        ("nao", {"seeds": 1001}, "1..1000"),
        ("nao", {"seeds": 2.5}, "1..1000"),
        ("nao", {"eta": 1e7}, "(0, 1e+06]"),
        ("nao", {"eta": math.inf}, "numbers must be finite"),  # refused on the wire
        ("nao", {"eta": math.nan}, "numbers must be finite"),
        ("nao", {"eta": "big"}, "(0, 1e+06]"),
        ("nao", {"max_doublings": 31}, "0..30"),
        ("random", {"anything": 1}, "accepts none"),
    ],
)
def test_strategy_options_out_of_bounds_are_refused(
    client: Client, strategy: str, options: dict, match: str
) -> None:
    expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        client.create_study,
        "opts",
        space="nb201",
        strategy=strategy,
        strategy_options=options,
        match=match,
    )
    assert client.list_studies() == []


def test_bounds_themselves_are_accepted(client: Client) -> None:
    client.create_study(
        "evo", space="nb201", strategy="evolution", strategy_options={"population": 10_000}
    )
    client.create_study(
        "nao",
        space="nb201",
        strategy="nao",
        strategy_options={"seeds": 1000, "eta": 1e6, "max_doublings": 30},
    )
    assert len(client.study("nao").propose(count=3)) == 3


def test_exhausted_constrained_space_answers_at_once_and_stalls_no_one(client: Client) -> None:
    space = {
        "params": [{"name": "x", "type": "int", "low": 0, "high": 99}],
        "constraints": [{"coefficients": {"x": 1}, "op": "<=", "bound": 0.5}],
    }
    study = client.create_study("tight", space=space, strategy="random")
    other = client.create_study("other", space="nb201", strategy="random")
    (only,) = study.propose()
    assert only.params == {"x": 0}
    for _ in range(3):
        start = time.perf_counter()
        expect(grpc.StatusCode.RESOURCE_EXHAUSTED, study.propose, match="only 0 of 1 requested")
        assert time.perf_counter() - start < 5.0  # was 14.8 s; ~2 ms idle (bench exhaustion)
    (trial,) = other.propose()
    assert other.report(trial.id, value=1.0).state == "COMPLETED"


def test_nb201_is_exhausted_only_when_it_is_also_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "nb201.db"
    with ServerThread(db) as server, Client(server.target, retries=2) as client:
        study = client.create_study("full", space="nb201", strategy="random", seed=7)
        taken = set()
        for count in (1000,) * 5 + (NB201_NETWORKS - 5000 - 625,):
            taken |= {t.arch for t in study.propose(count=count)}
        assert len(taken) == NB201_NETWORKS - 625
        expect(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            study.propose,
            count=626,
            match="only 625 of 626 requested architectures remain",
        )
        for count in (1, 10, 100):
            taken |= {t.arch for t in study.propose(count=count)}
        assert len(taken) == NB201_NETWORKS - 625 + 111
    with ServerThread(db) as server, Client(server.target, retries=2) as client:
        study = client.study("full")
        last = study.propose(count=625 - 111)
        assert len({t.arch for t in last} - taken) == 625 - 111
        expect(grpc.StatusCode.RESOURCE_EXHAUSTED, study.propose, match="only 0 of 1 requested")
        assert study.info().pending_count == NB201_NETWORKS


def test_floats_over_the_whole_double_range(client: Client) -> None:
    space = {
        "params": [
            {"name": "x", "type": "float", "low": -BIG, "high": BIG},
            {"name": "y", "type": "float", "low": -BIG, "high": BIG},
        ],
        "constraints": [{"coefficients": {"x": BIG, "y": BIG}, "op": "<=", "bound": BIG}],
    }
    study = client.create_study("huge", space=space, strategy="random")  # was "infeasible"
    xs = [t.params["x"] for t in study.propose(count=200)]
    assert min(xs) < -0.5 * BIG and max(xs) > 0.5 * BIG  # was 1e308 every time
    assert sum(abs(x) < 0.25 * BIG for x in xs) > 10
    for t in study.propose(count=200):
        assert t.params["x"] + t.params["y"] <= 1.0 + 1e-9
    assert study.tell({"x": 0.0, "y": 0.0}, value=1.0).state == "COMPLETED"
    expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        study.tell,
        {"x": BIG, "y": BIG},
        value=1.0,
        match="left side is beyond the float range",
    )


def test_exhaustion_bench_measures_every_call(server) -> None:
    from archsampler.bench.exhaustion import measure

    result = measure(server.target, calls=20, left=50)
    for kind in ("idle_propose", "constrained_exhausted", "nb201_exhausted"):
        stats = result[kind]
        assert stats["n"] == 20
        assert 0 < stats["p50_ms"] <= stats["p99_ms"] <= stats["p99_9_ms"] <= stats["max_ms"]
    worst = max(result["constrained_exhausted"]["max_ms"], result["nb201_exhausted"]["max_ms"])
    assert result["goal_met"] == (worst <= 100.0)
