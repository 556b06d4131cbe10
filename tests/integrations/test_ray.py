"""`ArchSamplerSearch` with a real local Ray Tune against a real server on loopback."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

from archsampler.testing.optional import import_or_skip

ray = import_or_skip("ray", "pip install 'archsampler-client[ray]'")  # CI: fails

from ray import tune  # noqa: E402
from ray.tune.schedulers import FIFOScheduler  # noqa: E402
from ray.tune.schedulers import TrialScheduler  # noqa: E402
from ray.tune.search import ConcurrencyLimiter  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402

from archsampler_client.integrations._ray_space import TuneSpace  # noqa: E402
from archsampler_client.integrations.ray import ArchSamplerSearch  # noqa: E402

SPACE = {
    "x": tune.uniform(-2.0, 2.0),
    "lr": tune.loguniform(1e-4, 1e-1),
    "net": {"depth": tune.randint(1, 9), "width": tune.qrandint(16, 128, 16)},
    "drop": tune.quniform(0.0, 0.5, 0.05),
    "wd": tune.qloguniform(1e-4, 1e-1, 1e-4),
    "act": tune.choice(["relu", "gelu", None]),
    "epochs": 3,
}


def train(config: dict[str, Any]) -> None:
    """A real function: 3 'epochs' of a loss with a known minimum, one report each."""
    net = config["net"]
    base = (config["x"] - 0.5) ** 2 + abs(math.log10(config["lr"]) + 2) + config["drop"]
    base += abs(net["depth"] - 4) / 4 + abs(net["width"] - 64) / 64 + (config["act"] != "relu")
    for epoch in range(1, config["epochs"] + 1):
        tune.report({"loss": base + 1.0 / epoch})


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray on 2 CPUs, no dashboard; shut down after the module. Workers cannot
    import this test module, so its functions travel by value."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def study_trials(client: Any, searcher: ArchSamplerSearch) -> list[Any]:
    return list(client.study(searcher.study_name).trials())


def tuner(
    searcher: Searcher, tmp_path: Path, name: str, n: int, callbacks: list | None = None, **kw: Any
) -> tune.Tuner:
    return tune.Tuner(
        train,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=4),
            metric="loss",
            mode="min",
            num_samples=n,
            **kw,
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=str(tmp_path), verbose=0, callbacks=callbacks
        ),
    )


def test_tuner_4_concurrent_trials_every_result_reaches_the_study(
    ray_local, client, tmp_path: Path
) -> None:
    searcher = ArchSamplerSearch(client, study="ray-nas", strategy="lanas")
    results = tuner(searcher, tmp_path, "run", 12).fit()
    assert not results.errors and len(results) == 12
    stored = {t.metadata["tune_trial_id"]: t for t in study_trials(client, searcher)}
    assert len(stored) == 12 and client.study("ray-nas").info().config["goal"] == "MINIMIZE"
    assert len({t.arch_hash for t in stored.values()}) == 12
    space = TuneSpace(SPACE)
    for r in results:
        t = stored[r.metrics["trial_id"]]
        assert t.state == "COMPLETED" and t.value == r.metrics["loss"]
        assert t.metadata["training_iteration"] == "3"
        assert space.config(t.params) == {k: v for k, v in r.config.items() if k != "epochs"}


class StopSome(FIFOScheduler):
    """Stops trials with x < 0 after their first result: early stopping."""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if trial.config["x"] < 0 and result["training_iteration"] == 1:
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE


def test_a_trial_stopped_by_a_scheduler_is_failed_not_a_value(
    ray_local, client, tmp_path: Path
) -> None:
    searcher = ArchSamplerSearch(client, study="ray-stop", strategy="random", seed=3)
    results = tuner(searcher, tmp_path, "stop", 8, scheduler=StopSome()).fit()
    assert not results.errors
    stored = {t.metadata["tune_trial_id"]: t for t in study_trials(client, searcher)}
    assert len(stored) == 8
    stopped = 0
    for r in results:
        t = stored[r.metrics["trial_id"]]
        if r.config["x"] < 0:
            stopped += 1
            assert t.state == "STOPPED" and t.value == r.metrics["loss"]  # not final
            assert t.metadata["reason"].startswith("stopped early at iteration 1 (loss=")
        else:
            assert t.state == "COMPLETED" and t.value == r.metrics["loss"]
    assert 0 < stopped < 8


class Interrupt(tune.Callback):
    """Ends the run once 4 trials have finished, as a crash of the driver would; once (the
    restored Tuner unpickles this callback too)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if not self.marker.exists() and sum(t.status == "TERMINATED" for t in trials) >= 4:
            self.marker.touch()
            raise RuntimeError("driver crash")


def test_tuner_restore_resumes_without_repeating_an_architecture(
    ray_local, client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "0")  # experiment state saved every step
    searcher = ArchSamplerSearch(client, study="ray-restore", strategy="evolution")
    first = tuner(searcher, tmp_path, "restore", 10, callbacks=[Interrupt(tmp_path / "crashed")])
    with pytest.raises(RuntimeError, match="driver crash"):
        first.fit()
    before = study_trials(client, searcher)
    assert 4 <= len(before) < 10
    path = str(tmp_path / "restore")
    assert tune.Tuner.can_restore(path)
    results = tune.Tuner.restore(path, trainable=train, resume_unfinished=True).fit()
    assert not results.errors and len(results) == 10
    after = study_trials(client, searcher)
    assert len({t.arch_hash for t in after}) == len(after)
    completed = {t.metadata["tune_trial_id"]: t for t in after if t.state == "COMPLETED"}
    assert {r.metrics["trial_id"] for r in results} <= set(completed)
    for r in results:
        assert completed[r.metrics["trial_id"]].value == r.metrics["loss"]


# -- the Searcher contract, called as Tune's controller calls it (no Ray runtime needed) --
def test_domains_convert_and_unsupported_ones_are_refused() -> None:
    space = TuneSpace(SPACE)
    by_name = {p["name"]: p for p in space.spec["params"]}
    assert by_name["net.depth"] == {"name": "net.depth", "type": "int", "low": 1, "high": 8}
    assert by_name["net.width"] == {"name": "net.width", "type": "int", "low": 1, "high": 8}
    assert by_name["drop"] == {"name": "drop", "type": "int", "low": 0, "high": 10}
    assert by_name["wd"] == {"name": "wd", "type": "int", "low": 1, "high": 1000, "log": True}
    assert by_name["lr"]["log"] and by_name["act"]["choices"] == ["relu", "gelu", "None"]
    config = space.config({**{n: p.get("low", 0) for n, p in by_name.items()}, "act": "None"})
    assert config["net"] == {"depth": 1, "width": 16} and config["act"] is None
    assert config["drop"] == 0.0 and config["wd"] == 0.0001 and "epochs" not in config
    assert space.decode({"drop": 7})["drop"] == 0.35  # on Tune's grid, exactly
    for bad, what in [
        (tune.grid_search([1, 2]), "grid_search"),
        (tune.randn(), "Normal"),
        (tune.sample_from(lambda _: 1), "Function"),
    ]:
        with pytest.raises(ValueError, match=rf"'deep.x'.*{what}|{what}.*'deep.x'"):
            TuneSpace({"deep": {"x": bad}})


def test_errors_no_result_repeats_and_evaluated_points(client) -> None:
    searcher = ArchSamplerSearch(client, study="ray-unit", space=SPACE, metric="loss", mode="max")
    with pytest.raises(RuntimeError, match="no search space"):
        ArchSamplerSearch(client, metric="loss", mode="min").suggest("t")
    with pytest.raises(RuntimeError, match="`metric`"):
        ArchSamplerSearch(client, space=SPACE).suggest("t")
    configs = {f"t{i}": searcher.suggest(f"t{i}") for i in range(4)}
    searcher.on_trial_complete("t0", error=True)
    searcher.on_trial_complete("t1")  # stopped while PENDING: no result
    searcher.on_trial_result("t2", {"loss": 1.5, "training_iteration": 1})
    searcher.on_trial_complete("t2", {"loss": 1.5, "training_iteration": 1, "done": True})
    searcher.on_trial_complete("t2", {"loss": 9.0, "training_iteration": 1})  # repeated: ignored
    searcher.on_trial_result("t3", {"loss": float("nan"), "training_iteration": 1})
    searcher.on_trial_complete("t3", {"loss": float("nan"), "training_iteration": 1})
    searcher.add_evaluated_point({"x": 0.25, "lr": 0.01, "net/depth": 3, "net": {"width": 32},
                                  "drop": 0.1, "wd": 0.002, "act": "gelu"}, 7.0)  # fmt: skip
    evaluated = dict(configs["t0"], x=0.75)
    searcher.add_evaluated_point(evaluated, 0.0, error=True)
    trials = {
        t.metadata.get("tune_trial_id", f"told{t.id}"): t for t in study_trials(client, searcher)
    }
    assert [trials[f"t{i}"].state for i in range(4)] == ["FAILED", "FAILED", "COMPLETED", "FAILED"]
    assert trials["t0"].metadata["reason"] == "Ray Tune trial t0 errored"
    assert "before its first result" in trials["t1"].metadata["reason"]
    assert trials["t2"].value == 1.5 and "loss=nan" in trials["t3"].metadata["reason"]
    told = sorted((t for k, t in trials.items() if k.startswith("told")), key=lambda t: t.id)
    assert [t.value for t in told] == [7.0, None] and told[1].state == "FAILED"
    assert TuneSpace(SPACE).config(told[0].params)["net"] == {"depth": 3, "width": 32}


def test_save_restore_into_a_fresh_unconfigured_searcher(client, tmp_path: Path) -> None:
    small = {"op": tune.choice(["conv3", "conv5", "skip"]), "n": tune.randint(1, 3)}
    searcher = ArchSamplerSearch(client, study="ray-ckpt", space=small, metric="acc", mode="max")
    configs = [searcher.suggest(f"t{i}") for i in range(3)]
    searcher.on_trial_result("t0", {"acc": 0.5, "training_iteration": 2})
    searcher.on_trial_complete("t0", {"acc": 0.5, "training_iteration": 2})
    searcher.on_trial_result("t1", {"acc": 0.6, "training_iteration": 1})
    searcher.save(str(tmp_path / "ckpt.json"))
    fresh = ArchSamplerSearch(client)  # a new process would build exactly this
    fresh.restore(str(tmp_path / "ckpt.json"))
    assert fresh.study_name == "ray-ckpt"
    fresh.on_trial_complete("t1", {"acc": 0.6, "training_iteration": 1})
    fresh.on_trial_complete("t2", {"acc": 0.7, "training_iteration": 3})  # stopped early
    more = [fresh.suggest(f"u{i}") for i in range(3)]
    assert fresh.suggest("u3") is Searcher.FINISHED  # 3 ops x 2 values, all proposed
    assert len({repr(sorted(c.items())) for c in configs + more}) == 6
    states = {t.metadata.get("tune_trial_id"): t for t in client.study("ray-ckpt").trials()}
    assert states["t1"].value == 0.6 and states["t2"].state == "STOPPED"
    assert states["t2"].value == 0.7  # its last value, partial evidence
    assert states["t2"].metadata["reason"] == "stopped early at iteration 3 (acc=0.7)"
    other = ArchSamplerSearch(client, space={"op": tune.choice(["a", "b"])})
    with pytest.raises(ValueError, match="another search space"):
        other.restore(str(tmp_path / "ckpt.json"))
    assert not other.set_search_properties("acc", "max", small)
    assert fresh.set_search_properties("acc", "max", small)  # the same space again: kept
