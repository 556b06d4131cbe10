"""`archsampler bench multiobjective`: exact NB201 parameter counts (torch agrees), the true
front and hypervolume of the table, regret curves, and the JSON a short run writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from archsampler.bench import multiobjective as mo
from archsampler.pareto import hypervolume
from archsampler.pareto import pareto_mask
from archsampler.spaces import make_space


@pytest.mark.parametrize(
    "cell",
    [
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|",
    ],
)
def test_parameter_counts_equal_torch(cell: str) -> None:
    torch = pytest.importorskip("torch")
    arch = make_space({"builtin": "nb201"}).from_string(cell)
    net = mo.nb201_network(arch)
    assert mo.nb201_params(arch) == sum(p.numel() for p in net.parameters())
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)  # the network really runs


def test_known_extremes() -> None:
    """NAS-Bench-201 states 0.073 MB .. 1.531 MB of parameters for its CIFAR-10 cells."""
    assert mo.nb201_params((0,) * 6) == 73_306
    assert mo.nb201_params((3,) * 6) == 1_531_546


@pytest.fixture(scope="module")
def problem(benchmarks: Path) -> mo.Problem:
    return mo.load_problem(benchmarks / "nb201" / "nb201_cifar10.csv")


def test_true_front_and_regret_curve(problem: mo.Problem) -> None:
    assert problem.scaled.min() == 0.0 and problem.scaled.max() == 1.0
    front = problem.scaled[problem.front_rows]
    assert pareto_mask(problem.scaled).sum() == len(problem.front_rows)
    assert problem.front_hv == pytest.approx(hypervolume(front, (0.0, 0.0)))
    rows = mo.run_one(problem, "random", 0, 40)
    curve = mo.regret_curve(problem, rows, 50)
    assert (np.diff(curve) <= 1e-15).all() and (curve >= -1e-12).all()
    assert curve[-1] == curve[39]  # carried on after a short run
    expect = problem.front_hv - hypervolume(problem.scaled[rows[:10]], (0.0, 0.0))
    assert curve[9] == pytest.approx(expect)
    all_rows = problem.front_rows  # evaluating the whole true front leaves no regret
    assert mo.regret_curve(problem, all_rows, len(all_rows))[-1] == pytest.approx(0.0, abs=1e-12)


def test_short_run_writes_json_and_plot(benchmarks: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    mo.add_arguments(parser)
    out, png = tmp_path / "mo.json", tmp_path / "mo.png"
    args = parser.parse_args(
        ["--seeds", "1", "--budget", "55", "--searchers", "lanas,nsga2", "--workers", "1"]
        + ["--json", str(out), "--plot", str(png)]
    )
    assert mo.run(args) == 0
    data = json.loads(out.read_text())
    assert set(data["searchers"]) == {"lanas", "nsga2"}
    assert set(data["searchers"]["lanas"]) == {"50"}  # 100, 200, 300 lie beyond the budget
    assert data["config"]["reference_point"]["params"] == 1_531_546
    assert png.read_bytes()[:4] == b"\x89PNG"
