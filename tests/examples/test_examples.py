"""The examples run as a user runs them (a subprocess each, small budgets) against a real
server on loopback; the study they leave behind is checked."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archsampler.testing.optional import skip_or_fail
from archsampler_client import TrialState

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_spec = importlib.util.spec_from_file_location("examples_digits", EXAMPLES / "digits.py")
assert _spec is not None and _spec.loader is not None
digits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(digits)


def need(module: str, extra: str) -> None:
    """Skip when `module` is not installed (fail under ARCHSAMPLER_REQUIRE_ALL=1)."""
    if importlib.util.find_spec(module) is None:
        skip_or_fail(f"{module} not installed: pip install 'archsampler-client[{extra}]'")


NNI_STARTUP = ("Tuner did not connect in 10 seconds", "Create experiment failed")
"""NNI's own start-up timeouts (fixed: 3 s for its manager, 10 s for its tuner process),
which a loaded machine can miss before any trial runs: such a run is retried once."""


def run(script: str, *args: str, timeout: float = 240, retry_on: tuple[str, ...] = ()) -> str:
    """Run `examples/<script> args`; its stdout. Fails the test on a non-zero exit."""
    for attempt in (1, 2):
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        output = proc.stdout + proc.stderr
        if proc.returncode == 0 or attempt == 2 or not any(m in output for m in retry_on):
            break
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{output[-4000:]}"
    return proc.stdout


def completed(client: Any, study: str, n: int) -> list[Any]:
    """The study's trials: `n`, all COMPLETED with an accuracy in (0, 1], distinct archs."""
    trials = list(client.study(study).trials())
    assert [t.state for t in trials] == [TrialState.COMPLETED] * n
    assert all(0.0 < t.value <= 1.0 for t in trials)
    assert len({t.arch_hash for t in trials}) == n
    return trials


def test_train_early_stop_seed_and_every_corner_of_the_space() -> None:
    small = {"layers": 1, "channels": 8, "kernel": 3, "activation": "relu"}
    params = {**small, "dropout": 0.0, "lr": 0.01}
    seen: list[tuple[int, float]] = []
    stop = digits.train(params, epochs=5, on_epoch=lambda e, a: seen.append((e, a)) or e == 2)
    assert stop["epochs_run"] == 2 and [e for e, _ in seen] == [1, 2]
    assert stop["valid_acc"] == seen[-1][1] and 0.5 < stop["valid_acc"] <= 1.0  # learns
    assert digits.train(params, epochs=2) == stop  # same seed: same weights, same batches
    assert digits.train(params, epochs=2, seed=1) != stop
    big = {"layers": 3, "channels": 32, "kernel": 5, "activation": "gelu"}
    for p in (big, {**big, "activation": "tanh", "layers": 2}):
        r = digits.train({**p, "dropout": 0.5, "lr": 1e-3}, epochs=1)
        assert 0.0 <= r["valid_acc"] <= 1.0 and 0.0 <= r["test_acc"] <= 1.0
    parts = digits.data()
    assert [len(parts[k][1]) for k in ("train", "valid", "test")] == [1078, 359, 360]


def test_sdk_workers(server, client) -> None:
    out = run("workers.py", "--trials", "5", "--epochs", "1", "--target", server.target)
    trials = completed(client, "digits-sdk", 5)
    assert {t.client_id for t in trials} == {"worker-1", "worker-2"}
    assert all(0.0 < float(t.metadata["test_acc"]) <= 1.0 for t in trials)
    best = client.study("digits-sdk").best()
    assert f"best architecture: {best.arch}" in out and best.value == max(t.value for t in trials)
    stored = client.study("digits-sdk").info().config["space"]["user"]["params"]
    assert [p["name"] for p in stored] == [p["name"] for p in digits.SPACE["params"]]


def test_workers_start_their_own_server() -> None:
    out = run("workers.py", "--trials", "1", "--epochs", "1", "--strategy", "random")
    assert "started a server at 127.0.0.1:" in out and "best architecture: layers=" in out


def test_optuna_search(server, client, tmp_path: Path) -> None:
    need("optuna", "optuna")
    import optuna

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = ("--trials", "5", "--epochs", "1", "--target", server.target, "--storage", storage)
    out = run("optuna_search.py", *args)
    study = optuna.load_study(study_name="digits-optuna", storage=storage)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 5
    (name,) = {t.system_attrs["archsampler"]["study"] for t in trials}
    stored = {t.id: t for t in completed(client, name, 5)}
    for t in trials:  # every value in both, for the same architecture
        mine = stored[t.system_attrs["archsampler"]["trial_id"]]
        assert mine.value == t.value and mine.params["activation"] == t.params["activation"]
        assert mine.params["layers"] == t.params["layers"]
    names = [p["name"] for p in digits.SPACE["params"]]
    assert sorted(study.best_params) == sorted(names)
    assert f"validation accuracy {study.best_value:.4f}" in out


@pytest.mark.slow
def test_ray_search(server, client) -> None:
    need("ray", "ray")
    out = run("ray_search.py", "--trials", "4", "--epochs", "1", "--target", server.target)
    trials = completed(client, "digits-ray", 4)
    assert all(t.metadata["tune_trial_id"] for t in trials)
    assert f"validation accuracy {max(t.value for t in trials):.4f}" in out
    assert "0 trials failed" in out
    assert not any(math.isnan(t.value) for t in trials)


@pytest.mark.slow
def test_nni_search(server, client) -> None:
    need("nni", "nni")
    args = ("--trials", "3", "--epochs", "1", "--target", server.target)
    out = run("nni_search.py", *args, retry_on=NNI_STARTUP)
    trials = list(client.study("digits-nni").trials())
    done = [t for t in trials if t.state == TrialState.COMPLETED]
    assert len(done) == 3 and all(0.0 < t.value <= 1.0 for t in done)
    assert len({t.arch_hash for t in trials}) == len(trials)
    assert sorted(t.metadata["nni_parameter_id"] for t in done) == ["0", "1", "2"]
    # NNI's manager asks for one parameter set per finished trial while it has submitted
    # fewer than max_trial_number; two trials ending in one poll leave a set it never runs:
    # the tuner gives it back when NNI's dispatcher exits (Release: STALE, not PENDING).
    assert all(t.state == TrialState.STALE for t in trials if t not in done)
    best = client.study("digits-nni").best()
    assert "3 trials succeeded" in out and f"best architecture: {best.arch}" in out
