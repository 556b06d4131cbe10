"""`archsampler bench mlp` on a tiny budget: the JSON matches a recomputation from its own
traces, a traced training repeats bit for bit, and the cache never changes a result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from archsampler.bench.mlp import best_so_far
from archsampler.bench.mlp import summarize
from archsampler.bench.mlp_train import Evaluator
from archsampler.bench.mlp_train import load_digits_split
from archsampler.bench.mlp_train import sklearn_baseline
from archsampler.bench.mlp_train import train_mlp
from archsampler.cli import main
from archsampler.spaces.mlp import MLPSpace

pytest.importorskip("torch")
pytest.importorskip("optuna")

BUDGET = 3
SEEDS = 2
EPOCHS = 1


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("mlp") / "mlp.json"
    code = main(
        [
            "bench",
            "mlp",
            "--strategies",
            "random,lanas,tpe",
            "--seeds",
            str(SEEDS),
            "--budget",
            str(BUDGET),
            "--epochs",
            str(EPOCHS),
            "--target",
            "0.3",
            "--json",
            str(out),
            "--plot",
            str(out.with_suffix(".png")),
        ]
    )
    assert code == 0
    assert out.with_suffix(".png").stat().st_size > 1000
    return json.loads(out.read_text())


def test_summary_is_recomputed_from_the_traces(result: dict) -> None:
    space = MLPSpace()
    assert result["config"]["split"] == {"seed": 0, "train": 1078, "valid": 359, "test": 360}
    for name in ("random", "lanas", "tpe"):
        runs = result["runs"][name]
        assert [r["seed"] for r in runs] == list(range(SEEDS))
        traces = []
        for run in runs:
            trace = [(t["arch"], t["valid"], t["test"]) for t in run["trace"]]
            assert len(trace) == BUDGET
            hashes = {space.canonical_hash(space.from_string(a)) for a, _, _ in trace}
            assert len(hashes) == BUDGET  # distinct, valid architectures
            traces.append(trace)
        summary = dict(result["strategies"][name])
        assert summary.pop("errors") == []
        assert summary == summarize(traces, BUDGET, 0.3)
        # the summary's own definitions, spelled out once for the first seed
        valid = [v for _, v, _ in traces[0]]
        assert best_so_far(traces[0], BUDGET)[-1] == max(valid)
    # lanas starts from the same uniform samples as random (same seed): shared trainings
    assert result["runs"]["lanas"][0]["trainings"]["hits"] >= 1


def test_a_traced_training_repeats_exactly(result: dict) -> None:
    data = load_digits_split()
    run = result["runs"]["tpe"][1]
    entry = run["trace"][-1]
    arch = MLPSpace().from_string(entry["arch"])
    assert train_mlp(arch, data, run["seed"], EPOCHS) == (entry["valid"], entry["test"])


def test_sklearn_row_is_the_documented_default_classifier(result: dict) -> None:
    data = load_digits_split()
    first = result["sklearn"]["per_seed"][0]
    assert sklearn_baseline(data, 0) == (first["valid"], first["test"])
    assert result["sklearn"]["valid"]["median"] == pytest.approx(
        np.median([r["valid"] for r in result["sklearn"]["per_seed"]])
    )


def test_cache_file_gives_the_trained_result(tmp_path: Path) -> None:
    data = load_digits_split()
    arch = MLPSpace().from_string("(32, 'relu')")
    first = Evaluator(data, EPOCHS, tmp_path / "cache.db")
    valid, test, _ = first(arch, 7)
    assert first.stats()["trained"] == 1
    again = Evaluator(data, EPOCHS, tmp_path / "cache.db")  # another run, same file
    assert again(arch, 7)[:2] == (valid, test)
    assert again.stats() == {"trained": 0, "hits": 1, "train_seconds": 0.0}
    assert again(arch, 8)[:2] == train_mlp(arch, data, 8, EPOCHS)  # another seed trains


def test_bad_options_are_refused(capsys) -> None:
    assert main(["bench", "mlp", "--budget", "0"]) == 2
    assert "--budget must be in 1..10,000, got 0" in capsys.readouterr().err
    assert main(["bench", "mlp", "--strategies", "nope", "--budget", "1"]) == 2
    assert "unknown strategy 'nope'" in capsys.readouterr().err
