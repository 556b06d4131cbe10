"""The command line dispatches to each benchmark and subcommand with its own options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archsampler.cli import BENCHES


@pytest.mark.parametrize(
    "argv, option",
    [(["bench", name, "--help"], "--json") for name in BENCHES]
    + [
        (["train", "--help"], "--out"),
        (["serve", "--help"], "--db"),
        (["demo", "--help"], "--trials"),
    ],
)
def test_help_lists_the_options(argv: list[str], option: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", *argv], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert option in out.stdout


def test_unknown_bench_is_an_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", "bench", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "invalid choice" in out.stderr


@pytest.mark.parametrize("transport", ["session", "step"])
def test_load_bench_runs_a_tiny_config_and_writes_consistent_json(tmp_path, transport) -> None:
    import json

    out_json = tmp_path / "load.json"
    argv = ["bench", "load", "--clients", "4", "--seconds", "2", "--warmup", "0.5"]
    argv += ["--skip-retrain", "--transport", transport, "--json", str(out_json)]
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", *argv], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out_json.read_text())
    assert (r["clients"], r["transport"], r["strategy"], r["warmup_s"]) == (
        4,
        transport,
        "random",
        0.5,
    )
    assert r["pairs"] > 0 and r["seconds"] >= 2.0
    assert r["pairs_per_s"] == pytest.approx(r["pairs"] / r["seconds"])
    # every pair after the warm-up gives a propose and a report sample
    assert 0 < r["latency_samples"] <= 2 * r["pairs"] and r["latency_samples"] % 2 == 0
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["p99_9_ms"] <= r["max_ms"]
    assert r["propose_p99_ms"] > 0 and r["report_p99_ms"] > 0
    assert r["grpc_ceiling_rpc_per_s"] > 0
    assert "p99_ms_during_retrain" not in r  # --skip-retrain
    assert f"{r['pairs']} propose+report pairs" in out.stdout
