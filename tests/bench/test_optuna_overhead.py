"""`archsampler bench optuna`: one short run prints every row, both goals and the JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from archsampler.bench import optuna_overhead

pytest.importorskip("optuna")
pytest.importorskip("ray")


def test_short_run_times_every_sample_of_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    parser = argparse.ArgumentParser()
    optuna_overhead.add_arguments(parser)
    out = tmp_path / "optuna.json"
    argv = ["--trials", "6", "--block", "3", "--suggests", "7", "--json", str(out)]
    assert optuna_overhead.run(parser.parse_args(argv)) == 0
    results = json.loads(out.read_text())
    rows = [
        r for r in optuna_overhead.ROWS if r != "engine-tmpfs" or optuna_overhead.TMPFS.is_dir()
    ]
    assert list(results["optuna"]) == rows
    assert list(results["ray"]) == [r for r in rows if r in ("engine", "engine-tmpfs")]
    ray = [r for calls in results["ray"].values() for r in calls.values()]
    assert all(len(calls) == 2 for calls in results["ray"].values())
    assert all(r["n"] == 6 for r in results["optuna"].values())  # every trial a sample
    assert all(r["cpu"] > 0 for r in results["optuna"].values())
    assert all(r["n"] == 7 for r in ray)
    for r in [*results["optuna"].values(), *ray]:
        assert 0 < r["p50"] <= r["p99"] <= r["p99.9"] <= r["max"]
    printed = capsys.readouterr().out
    assert "adds <= 2.0 ms per trial" in printed and "takes <= 5.0 ms" in printed


def test_without_the_server_row(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    optuna_overhead.add_arguments(parser)
    out = tmp_path / "optuna.json"
    argv = ["--trials", "2", "--block", "2", "--suggests", "1", "--no-server", "--json", str(out)]
    assert optuna_overhead.run(parser.parse_args(argv)) == 0
    assert "server" not in json.loads(out.read_text())["optuna"]


def test_bad_counts_are_refused(capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    optuna_overhead.add_arguments(parser)
    assert optuna_overhead.run(parser.parse_args(["--suggests", "0"])) == 2
    assert "--suggests must be >= 1" in capsys.readouterr().err
