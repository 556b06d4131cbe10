"""`archsampler bench optuna`: one short run prints every row and writes the JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from archsampler.bench import optuna_overhead

pytest.importorskip("optuna")


def test_short_run_writes_every_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    optuna_overhead.add_arguments(parser)
    out = tmp_path / "optuna.json"
    args = parser.parse_args(["--trials", "6", "--block", "3", "--json", str(out)])
    assert optuna_overhead.run(args) == 0
    results = json.loads(out.read_text())
    assert list(results) == list(optuna_overhead.ROWS)
    assert all(r["mean"] > 0 and r["p99"] >= r["p50"] for r in results.values())
    assert "overhead" in capsys.readouterr().out
