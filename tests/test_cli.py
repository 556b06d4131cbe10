"""The command line dispatches to each benchmark and subcommand with its own options."""

from __future__ import annotations

import json
import math
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


def _bench_json(tmp_path, *argv: str, timeout: float = 600) -> dict:
    """Run `archsampler bench ...` with `--json` and return what it wrote."""
    out_file = tmp_path / "out.json"
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", "bench", *argv, "--json", str(out_file)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out_file.read_text())


def test_sampler_bench_measures_every_chain(tmp_path) -> None:
    result = _bench_json(tmp_path, "sampler", "--seconds", "0.3")
    rows = {
        "hit_and_run": 256,
        "gibbs": 1024,
        "hopsy_hit_and_run": 1,
        "hopsy_hit_and_run_x256": 256,
        "hopsy_coordinate_hit_and_run": 1,
        "hopsy_coordinate_hit_and_run_x1024": 1024,
    }
    for name, chains in rows.items():
        for case in ("d60_m6", "d60_m20"):
            r = result[name][case]
            assert r["chains"] == r["chains_measured"] == chains, (name, case)
            assert r["infeasible"] == 0
            assert r["records_per_chain"] >= 8 and r["steps"] > 0
            assert 0 < r["ess_per_s"] <= r["ess_median_per_s"]
            # No chain is multiplied: ESS of a run is at most its kept states (x log10 cap).
            kept = chains * (r["records_per_chain"] - r["records_per_chain"] // 2)
            assert r["ess_per_s"] * r["seconds"] <= kept * math.log10(kept)
    for pair in ("hit_and_run/hopsy_hit_and_run_x256", "gibbs/hopsy_coordinate_hit_and_run"):
        ratio = result["ratios"][pair]["d60_m6"]
        ours, theirs = pair.split("/")
        expected = result[ours]["d60_m6"]["ess_per_s"] / result[theirs]["d60_m6"]["ess_per_s"]
        assert ratio["ess_per_s"] == pytest.approx(expected)
    assert result["chains_measured"] == "all"


def test_predictor_bench_reports_quality_parity_and_speed(tmp_path, benchmarks) -> None:
    result = _bench_json(
        tmp_path,
        "predictor",
        *("--train-sizes", "40", "--splits", "1", "--test-size", "300"),
        *("--epochs", "3", "--min-steps", "0"),
    )
    assert set(result["pairwise"]) == {"40"}
    assert 0.0 <= result["pairwise"]["40"] <= 1.0 and -1.0 <= result["kendall"]["40"] <= 1.0
    assert set(result["baselines"]) == {"ridge_onehot", "random_forest_onehot"}
    assert result["baselines"]["ridge_onehot"]["pairwise"]["40"] > 0.5  # real data, real fit
    tp = result["throughput"]
    assert tp["parity"]["prediction"] <= 1e-5 and tp["parity"]["architectures"] == 1000
    assert tp["serving_provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert tp["serving_parity"]["architectures"] == 1000
    for op in ("encode_predict_grad", "decode"):
        for batch in ("1", "256"):
            r = tp[op][batch]
            assert r["speedup"] == pytest.approx(r["ort_archs_per_s"] / r["torch_archs_per_s"])
    assert result["settings"]["train_sizes"] == "40"


def test_dashboard_bench_times_views_of_growing_studies(tmp_path) -> None:
    argv = ("dashboard", "--sizes", "300,1200", "--refreshes", "3", "--new", "20")
    result = _bench_json(tmp_path, *argv, "--full-reads", "2")
    assert [r["trials"] for r in result["sizes"]] == [300, 1200]
    for r in result["sizes"]:
        # every trial was written, then 3 + 1 more growth steps of 20
        assert r["trials_at_end"] == r["trials"] + 4 * 20
        assert r["full_read"]["n"] == 2 and r["first_view"]["n"] == 1
        assert r["refresh"]["n"] == 3
        for key in ("full_read", "first_view", "refresh"):
            s = r[key]
            assert 0 < s["p50_ms"] <= s["p99_ms"] <= s["max_ms"] and s["peak_mb"] > 0
        ratio = r["refresh"]["p50_ms"] / r["full_read"]["p50_ms"]
        assert r["refresh_over_full_read_p50"] == pytest.approx(ratio)
