"""`bench stopping` on a tiny budget: every epoch counted was trained and reported, stopped
trials are STOPPED after fewer epochs, and the summary is recomputed from the runs."""

from __future__ import annotations

import pytest

from archsampler.bench.stopping import examples_dir
from archsampler.bench.stopping import run_one
from archsampler.bench.stopping import summarise


def test_tiny_runs_add_up() -> None:
    trainer = examples_dir() / "digits.py"
    jobs = [
        {"seed": 0, "rule": rule, "strategy": "random", "trials": 5, "epochs": 3,
         "trainer": str(trainer)}
        for rule in ("none", "asha")
    ]  # fmt: skip
    none, asha = (run_one(job) for job in jobs)
    assert [t["arch"] for t in none["trial_log"]] == [t["arch"] for t in asha["trial_log"]]
    assert none["epochs_trained"] == 15 and none["stopped"] == 0
    assert {t["state"] for t in none["trial_log"]} == {"COMPLETED"}
    for run in (none, asha):
        assert run["epochs_trained"] == sum(t["epochs"] for t in run["trial_log"])
    stopped = [t for t in asha["trial_log"] if t["state"] == "STOPPED"]
    assert len(stopped) == asha["stopped"] > 0  # ASHA (eta 3) stops most at epoch 1
    assert all(t["epochs"] < 3 for t in stopped)
    # a trial run to the end trained the same network as without stopping: same accuracy
    for a, n in zip(asha["trial_log"], none["trial_log"], strict=True):
        if a["epochs"] == 3:
            assert a["valid_acc"] == pytest.approx(n["valid_acc"])
    summary = summarise([none, asha], ["none", "asha"])
    assert summary["asha"]["epoch_ratio"] == asha["epochs_trained"] / 15
    diff = 100 * (asha["best_valid"] - none["best_valid"])
    assert summary["asha"]["mean_diff_points"] == pytest.approx(diff)
