"""`archsampler bench search`: JSON shape, sane numbers, user spaces, the plot."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from archsampler.bench import search
from archsampler.bench.search_runner import MISS
from archsampler.bench.search_runner import ProblemSpec
from archsampler.bench.search_runner import load_problem
from archsampler.bench.search_runner import regret_curve
from archsampler.bench.search_runner import run_search
from archsampler.bench.tables import nb201_table_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    search.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_nb201_json_shape_and_numbers(benchmarks: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "search.json", tmp_path / "regret.png"
    args = _args(
        "--strategies", "random,evolution", "--seeds", "4", "--budget", "500",
        "--workers", "1", "--json", str(out), "--plot", str(png),
        "--strategy-options", 'evolution:{"population": 20, "sample_size": 5}',
    )  # fmt: skip
    assert search.run(args) == 0
    data = json.loads(out.read_text())
    assert set(data["strategies"]) == {"random", "evolution"}
    assert data["config"]["metric"] == data["config"]["report_metric"] == "c10_valid_acc"
    for r in data["strategies"].values():
        for key in ("to_best", "to_top"):
            q = r[key]
            assert 1 <= q["q1"] <= q["median"] <= q["q3"] <= 501
        assert r["to_top"]["median"] <= r["to_best"]["median"]
        regrets = [r["regret"][k] for k in ("50", "100", "200", "500")]
        assert all(x >= 0 for x in regrets)
        assert regrets == sorted(regrets, reverse=True)
    # 16 top-0.1% cells out of 15,625: random search rarely finds the single best one.
    assert data["strategies"]["random"]["regret"]["500"] > 0
    assert (
        data["strategies"]["evolution"]["regret"]["500"]
        < data["strategies"]["random"]["regret"]["500"]
    )
    assert png.read_bytes()[:8] == PNG_MAGIC
    import matplotlib.image

    assert matplotlib.image.imread(png).ndim == 3


def test_tpe_counts_distinct_evaluations_only(benchmarks: Path) -> None:
    problem = load_problem(
        ProblemSpec(None, str(nb201_table_path()), "c10_valid_acc", "c10_test_acc")
    )
    rows = run_search(problem, "tpe", 0, 60, stop_at_best=False)
    assert len(rows) == 60
    assert len(set(rows.tolist())) == 60
    curve = regret_curve(problem, rows, 60)
    assert curve[-1] >= 0 and np.isfinite(curve).all()


def _write_user_problem(tmp_path: Path) -> tuple[Path, Path]:
    space = {
        "params": [
            {"name": "depth", "type": "int", "low": 1, "high": 4},
            {"name": "op", "type": "categorical", "choices": ["conv", "pool", "skip"]},
            {"name": "width", "type": "int", "low": 8, "high": 64, "step": 8},
            {
                "name": "kernel",
                "type": "categorical",
                "choices": ["k3", "k5"],
                "condition": {"param": "op", "op": "==", "value": "conv"},
            },
        ]
    }
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space))
    table = tmp_path / "table.csv"
    rng = np.random.default_rng(0)
    with open(table, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["depth", "op", "width", "kernel", "score", "final"])
        for depth, op, width, kernel in itertools.product(
            range(1, 5), ["conv", "pool", "skip"], range(8, 72, 8), ["k3", "k5"]
        ):
            if op != "conv" and kernel == "k5":
                continue  # kernel is inactive: one row with an empty cell
            if (depth + width // 8) % 4 == 0:
                continue  # a sparse table: these cells are "not trained"
            score = depth + width / 16 + (op == "conv") + (kernel == "k5") + rng.normal(0, 0.1)
            w.writerow([depth, op, width, kernel if op == "conv" else "", score, score + 1])
    return space_file, table


def test_user_space_end_to_end_with_pool(tmp_path: Path) -> None:
    space_file, table = _write_user_problem(tmp_path)
    out = tmp_path / "user.json"
    args = _args(
        "--space-file", str(space_file), "--table", str(table), "--metric", "score",
        "--report-metric", "final", "--strategies", "random,evolution,tpe", "--seeds", "3",
        "--budget", "60", "--workers", "2", "--json", str(out),
    )  # fmt: skip
    assert search.run(args) == 0
    data = json.loads(out.read_text())
    assert data["config"]["table_rows"] < 4 * 8 * 4  # the space has 128 cells
    for r in data["strategies"].values():
        assert r["to_best"]["median"] <= 61
        assert r["regret"]["50"] is not None and r["regret"]["50"] >= 0
        assert r["regret"]["100"] is None  # beyond the budget


def test_architectures_missing_from_the_table_count_as_failed(tmp_path: Path) -> None:
    space_file, table = _write_user_problem(tmp_path)
    problem = load_problem(ProblemSpec(str(space_file), str(table), "score", "final"))
    rows = run_search(problem, "random", 1, 128, stop_at_best=False)
    assert len(rows) == 128  # the whole space, misses included
    assert (rows == MISS).sum() == 128 - len(problem.table)


def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space_file, table = _write_user_problem(tmp_path)
    base = ["--space-file", str(space_file), "--table", str(table), "--workers", "1"]
    assert search.run(_args(*base, "--metric", "nope", "--strategies", "random")) == 2
    assert "no numeric column 'nope'" in capsys.readouterr().err
    assert search.run(_args(*base, "--metric", "score", "--strategies", "sa")) == 2
    assert "unknown strategy 'sa'" in capsys.readouterr().err
    bad = _args(
        *base, "--metric", "score", "--strategies", "random", "--strategy-options", "random:[1]"
    )
    assert search.run(bad) == 2
    assert "NAME:{JSON object}" in capsys.readouterr().err


def test_latency_harness_reports_percentiles(tmp_path: Path) -> None:
    from archsampler.bench import latency

    parser = argparse.ArgumentParser()
    latency.add_arguments(parser)
    out = tmp_path / "latency.json"
    args = parser.parse_args(
        ["--strategy", "evolution", "--sizes", "60,6000", "--steps", "20", "--json", str(out)]
    )
    assert latency.run(args) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"60", "6000"}
    assert data["60"]["space"] == data["6000"]["space"] == "user"  # like with like
    for r in data.values():
        assert 0 < r["p50"] <= r["p99"] <= r["max"]
        assert r["step"]["p50"] >= r["p50"] * 0.5
