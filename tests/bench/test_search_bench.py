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
from archsampler.bench.search_runner import first_hit
from archsampler.bench.search_runner import load_problem
from archsampler.bench.search_runner import regret_curve
from archsampler.bench.search_runner import run_search
from archsampler.bench.tables import nb201_table_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    search.add_arguments(parser)
    return parser.parse_args(list(argv))


def _regret_at(problem, rows: np.ndarray, k: int) -> float:  # noqa: ANN001
    """Regret after k evaluations, computed directly: the first best-valued cell so far."""
    best = None
    for row in rows[:k]:
        if row != MISS and (best is None or problem.values[row] > problem.values[best]):
            best = row
    if best is None:
        return problem.best_report - problem.worst_report
    return problem.best_report - float(problem.report[best])


def test_nb201_json_shape_and_numbers(benchmarks: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "search.json", tmp_path / "regret.png"
    options = 'evolution:{"population": 20, "sample_size": 5}'
    args = _args(
        "--strategies", "random,evolution", "--seeds", "4", "--budget", "500",
        "--report-metric", "c10_test_acc", "--workers", "1", "--json", str(out),
        "--plot", str(png), "--strategy-options", options,
    )  # fmt: skip
    assert search.run(args) == 0
    data = json.loads(out.read_text())
    assert set(data["strategies"]) == {"random", "evolution"}
    assert data["config"]["metric"] == "c10_valid_acc"
    assert data["config"]["report_metric"] == "c10_test_acc"
    assert data["config"]["networks"] == 6_466
    # The same runs again, in process: the JSON must be what the traces say.
    spec = ProblemSpec(None, str(nb201_table_path()), "c10_valid_acc", "c10_test_acc")
    problem, traces = search.run_all(
        spec, ["random", "evolution"], 4, 500, workers=1,
        options=search.parse_strategy_options([options]), progress=False,
    )  # fmt: skip
    for name, r in data["strategies"].items():
        assert r["evaluations"] == sum(len(t) for t in traces[name])
        for k in ("50", "100", "200", "500"):
            direct = np.mean([_regret_at(problem, t, int(k)) for t in traces[name]])
            assert r["regret"][k] == pytest.approx(direct, abs=1e-9)
        to_best = [first_hit(t, problem.is_best, 500) for t in traces[name]]
        assert r["to_best"]["median"] == pytest.approx(float(np.median(to_best)))
        assert r["in_leaf"] is None  # no region tree
        for t in traces[name]:  # every evaluation is a distinct network, never an isomorph
            hashes = [problem.space.canonical_hash(problem.table.archs[row]) for row in t]
            assert len(set(hashes)) == len(hashes)
    # 16 top-0.1% cells out of 15,625: random search rarely finds the single best one.
    assert data["strategies"]["random"]["regret"]["500"] > 0
    assert (
        data["strategies"]["evolution"]["regret"]["500"]
        < data["strategies"]["random"]["regret"]["500"]
    )
    assert png.read_bytes()[:8] == PNG_MAGIC
    import matplotlib.image

    assert matplotlib.image.imread(png).ndim == 3


def test_lanas_rows_report_in_leaf_fractions(
    benchmarks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lanas.json"
    args = _args(
        "--strategies", "lanas,lanas@relabel,lanas@paper", "--seeds", "2", "--budget", "120",
        "--workers", "1", "--json", str(out),
    )  # fmt: skip
    assert search.run(args) == 0
    table = capsys.readouterr().out
    assert "in-leaf" in table.splitlines()[0]
    r = json.loads(out.read_text())["strategies"]
    for name in ("lanas", "lanas@paper"):  # the reject rule: every proposal in its leaf
        assert r[name]["tree_proposals"] > 20  # runs stop at the best network
        assert r[name]["in_leaf"] == r[name]["in_region"] == 1.0
    # relabel keeps decoded candidates that leave the selected leaf: labelled truthfully
    # (in_region), but not all in the leaf UCB selected.
    assert r["lanas@relabel"]["in_region"] == 1.0
    assert r["lanas@relabel"]["in_leaf"] < 1.0
    assert search.run(_args("--strategies", "lanas@nope", "--seeds", "1")) == 2
    assert "unknown preset 'lanas@nope'" in capsys.readouterr().err


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


def test_latency_harness_times_rebuilds(tmp_path: Path) -> None:
    from archsampler.bench import latency

    parser = argparse.ArgumentParser()
    latency.add_arguments(parser)
    out = tmp_path / "latency.json"
    opts = '{"relearn_every": 5, "background_from": 200, "candidates": 20}'
    args = parser.parse_args(
        ["--sizes", "60,400", "--steps", "4", "--rebuilds", "3", "--json", str(out),
         "--strategy-options", opts]
    )  # fmt: skip
    assert latency.run(args) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"60", "400"}
    assert data["60"]["space"] == data["400"]["space"] == "user"  # like with like
    for r in data.values():
        assert r["steps"] > 4  # raised to cover 3 rebuilds
        assert r["rebuilds"]["count"] >= 3 and r["rebuilds"]["longest_ms"] > 0
        for t in (r, r["step"], r["step_cpu"]):
            assert 0 < t["p50"] <= t["p99"] <= t["p99.9"] <= t["max"]
        # a step is a propose plus an observe, each timed from the same start
        assert r["step"]["p50"] >= r["p50"] and r["step"]["max"] >= r["max"]
    assert data["60"]["rebuilds"]["waited_ms"] == 0  # below background_from: in line


def test_latency_harness_other_strategies(tmp_path: Path) -> None:
    from archsampler.bench import latency

    parser = argparse.ArgumentParser()
    latency.add_arguments(parser)
    out = tmp_path / "latency.json"
    args = parser.parse_args(
        ["--strategy", "evolution", "--sizes", "60", "--steps", "20", "--json", str(out)]
    )
    assert latency.run(args) == 0
    r = json.loads(out.read_text())["60"]
    assert r["steps"] == 20 and "rebuilds" not in r
    assert r["step"]["p50"] >= r["p50"]
