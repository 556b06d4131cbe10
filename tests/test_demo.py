"""The demo runs from the package alone: its NB201 table ships inside `archsampler/data/`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from archsampler.bench.tables import PACKAGED_NB201
from archsampler.bench.tables import load_table
from archsampler.spaces.nb201 import NB201Space


def test_packaged_table_equals_the_benchmark_table(benchmarks: Path) -> None:
    space = NB201Space()
    packaged = load_table(PACKAGED_NB201, space)
    with open(benchmarks / "nb201" / "nb201_cifar10.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(packaged) == len(rows) == 15_625
    for i, row in enumerate(rows):
        assert space.to_string(packaged.archs[i]) == space.to_string(
            space.from_string(row["arch"])
        )
        for column in ("c10_valid_acc", "c10_test_acc"):
            assert packaged.columns[column][i] == float(row[column])


def test_demo_runs_with_nothing_beside_the_package(tmp_path: Path) -> None:
    """No `../shared/`, a benchmarks variable pointing nowhere, a fresh working directory:
    the demo still searches and ends with its best architecture."""
    env = {**os.environ, "ARCHSAMPLER_BENCHMARKS": str(tmp_path / "missing")}
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", "demo", "--trials", "12", "--strategy", "random"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "best architecture: |" in out.stdout
    assert "12 trials this run" in out.stdout
    assert "Traceback" not in out.stderr
