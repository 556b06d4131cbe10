"""The Optuna sampler, the Ray Tune searcher and the NNI tuner on an in-process `Engine`
(no server): the same acceptance runs as against a server."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

from archsampler import Engine
from archsampler.testing.optional import import_or_skip


@pytest.fixture()
def engine(tmp_path: Path):
    with Engine(tmp_path / "studies.db") as e:
        yield e


def test_an_object_without_the_study_api_is_refused() -> None:
    from archsampler_client.integrations._common import connect

    with pytest.raises(
        TypeError, match="Client or an archsampler.Engine; a PosixPath has no create_study, study"
    ):
        connect(Path("studies.db"), {})
    with pytest.raises(TypeError, match="need a target string"):
        connect(object(), {"timeout": 1})


# -- Optuna ------------------------------------------------------------------------------
def optuna_objective(trial: Any) -> float:
    """A real function of mixed params (minimum near x=1, n=8, lr=1e-2, act='relu')."""
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 1, 64, log=True)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    act = trial.suggest_categorical("act", ["relu", "gelu", None])
    return (x - 1) ** 2 + abs(math.log2(n) - 3) + abs(math.log10(lr) + 2) + (act != "relu")


def test_optuna_60_trials_n_jobs_4_on_an_engine(engine: Engine) -> None:
    optuna = pytest.importorskip("optuna")
    from archsampler_client.integrations.optuna import SYSTEM_ATTR
    from archsampler_client.integrations.optuna import ArchSamplerSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = ArchSamplerSampler(engine, study="nas", strategy="lanas")
    study = optuna.create_study(sampler=sampler)
    study.optimize(optuna_objective, n_trials=60, n_jobs=4)
    trials = study.get_trials()
    assert len(trials) == 60 and all(t.state.name == "COMPLETE" for t in trials)
    (name,) = {t.system_attrs[SYSTEM_ATTR]["study"] for t in trials}
    stored = {t.id: t for t in engine.study(name).trials()}
    assert len(stored) == 60 and len({t.arch_hash for t in stored.values()}) == 60
    assert len({tuple(sorted(map(str, t.params.values()))) for t in trials}) == 60
    for t in trials:
        a = stored[t.system_attrs[SYSTEM_ATTR]["trial_id"]]
        assert a.state == "COMPLETED" and a.value == t.value
    sampler.close()  # a passed Engine is not the sampler's to close
    assert engine.study(name).info().completed_count == 60


# -- Ray Tune ----------------------------------------------------------------------------
def ray_train(config: dict[str, Any]) -> None:
    from ray import tune

    base = (config["x"] - 0.5) ** 2 + abs(math.log10(config["lr"]) + 2) + config["depth"] / 8
    for epoch in range(1, 4):
        tune.report({"loss": base + 1.0 / epoch})


def test_ray_tuner_4_concurrent_trials_on_an_engine(engine: Engine, tmp_path: Path) -> None:
    ray = import_or_skip("ray", "pip install 'archsampler-client[ray]'")
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    from archsampler_client.integrations.ray import ArchSamplerSearch

    space = {
        "x": tune.uniform(-2.0, 2.0),
        "lr": tune.loguniform(1e-4, 1e-1),
        "depth": tune.randint(1, 9),
    }
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        searcher = ArchSamplerSearch(engine, study="ray-nas", strategy="lanas")
        results = tune.Tuner(
            ray_train,
            param_space=space,
            tune_config=tune.TuneConfig(
                search_alg=ConcurrencyLimiter(searcher, max_concurrent=4),
                metric="loss",
                mode="min",
                num_samples=8,
            ),
            run_config=tune.RunConfig(name="run", storage_path=str(tmp_path), verbose=0),
        ).fit()
    finally:
        ray.shutdown()
    assert not results.errors and len(results) == 8
    stored = {t.metadata["tune_trial_id"]: t for t in engine.study("ray-nas").trials()}
    assert len(stored) == 8 and len({t.arch_hash for t in stored.values()}) == 8
    for r in results:
        t = stored[r.metrics["trial_id"]]
        assert t.state == "COMPLETED" and t.value == r.metrics["loss"]


# -- NNI ---------------------------------------------------------------------------------
def test_nni_tuner_on_an_engine(engine: Engine) -> None:
    import_or_skip("nni", "pip install 'archsampler-client[nni]'")
    from archsampler_client.integrations.nni import ArchSamplerTuner

    tuner = ArchSamplerTuner(engine, study="nni", strategy="random")
    tuner.update_search_space(
        {
            "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
            "units": {"_type": "choice", "_value": [16, 32, 64]},
        }  # fmt: skip
    )
    params = {i: tuner.generate_parameters(i) for i in range(4)}
    for i, p in params.items():
        tuner.receive_trial_result(i, p, p["units"] * p["lr"])
    stored = list(engine.study("nni").trials())
    assert len(stored) == 4 and all(t.state == "COMPLETED" for t in stored)
    assert sorted(t.value for t in stored) == sorted(p["units"] * p["lr"] for p in params.values())
