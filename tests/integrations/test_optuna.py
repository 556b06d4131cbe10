"""`ArchSamplerSampler` with real Optuna against a real server on loopback."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")

from optuna.distributions import CategoricalDistribution  # noqa: E402
from optuna.distributions import FloatDistribution  # noqa: E402
from optuna.distributions import IntDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from archsampler_client import ArchSamplerError  # noqa: E402
from archsampler_client.integrations._optuna_space import UserSpace  # noqa: E402
from archsampler_client.integrations.optuna import SYSTEM_ATTR  # noqa: E402
from archsampler_client.integrations.optuna import ArchSamplerSampler  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

MIXED = {
    "n": IntDistribution(2, 20, step=3),
    "width": IntDistribution(1, 256, log=True),
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "drop": FloatDistribution(0.0, 0.5, step=0.05),
    "mom": FloatDistribution(-1.0, 1.0),
    "act": CategoricalDistribution([None, True, 2, 2.5, "gelu"]),
    "clash": CategoricalDistribution(["1", 1, "a,b"]),
    "layer 1/units": CategoricalDistribution(["a", "b"]),
    "fixed": IntDistribution(3, 3),
}


def suggest_all(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, d.choices)
        elif isinstance(d, IntDistribution):
            out[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        else:
            out[name] = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    return out


def archsampler_trials(client: Any, study: Any) -> dict[tuple[str, int], Any]:
    """Every trial of the archsampler studies the Optuna study used: `(study, id) -> Trial`."""
    names = {t.system_attrs[SYSTEM_ATTR]["study"] for t in study.get_trials()}
    return {(n, t.id): t for n in sorted(names) for t in client.study(n).trials()}


def objective(trial: Any) -> float:
    """A real function of mixed params (minimum near x=1, n=8, lr=1e-2, act='relu')."""
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 1, 64, log=True)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    act = trial.suggest_categorical("act", ["relu", "gelu", None])
    return (x - 1) ** 2 + abs(math.log2(n) - 3) + abs(math.log10(lr) + 2) + (act != "relu")


def test_optimize_60_trials_n_jobs_4(client) -> None:
    sampler = ArchSamplerSampler(client, study="nas", strategy="lanas")
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=60, n_jobs=4)
    trials = study.get_trials()
    assert len(trials) == 60 and all(t.state == TrialState.COMPLETE for t in trials)
    stored = archsampler_trials(client, study)
    assert len(stored) == 60
    (name,) = {t.system_attrs[SYSTEM_ATTR]["study"] for t in trials}
    assert name.startswith("nas-") and client.study(name).info().config["goal"] == "MINIMIZE"
    assert len({t.arch_hash for t in stored.values()}) == 60
    assert len({tuple(sorted(map(str, t.params.values()))) for t in trials}) == 60
    told = 0
    for t in trials:
        attr = t.system_attrs[SYSTEM_ATTR]
        a = stored[attr["study"], attr["trial_id"]]
        assert a.state == "COMPLETED" and a.value == t.value
        assert a.metadata["optuna_trial_number"] == str(t.number)
        assert UserSpace(t.distributions).decode(a.params) == t.params
        told += bool(attr.get("told"))
    assert told <= 4  # only trials started before any space was known


def test_given_space_round_trips_every_distribution(client) -> None:
    sampler = ArchSamplerSampler(client, study="mixed", strategy="random", search_space=MIXED)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    seen: list[dict[str, Any]] = []

    def obj(trial: Any) -> float:
        seen.append(suggest_all(trial, MIXED))
        return float(len(seen))

    study.optimize(obj, n_trials=25)
    stored = archsampler_trials(client, study)
    assert {s for s, _ in stored} == {"mixed"}
    assert client.study("mixed").info().config["goal"] == "MAXIMIZE"
    for t, values in zip(study.get_trials(), seen, strict=True):
        assert t.params == values and values["fixed"] == 3
        for name, d in MIXED.items():
            assert d._contains(d.to_internal_repr(values[name])), (name, values[name])
        attr = t.system_attrs[SYSTEM_ATTR]
        assert "told" not in attr  # every trial is a proposal
        a = stored["mixed", attr["trial_id"]]
        assert UserSpace(MIXED).decode(a.params) == {
            k: v for k, v in values.items() if k != "fixed"
        }
    act_types = {type(v["act"]) for v in seen}
    assert act_types <= {type(None), bool, int, float, str} and len(act_types) >= 3
    assert {v["clash"] for v in seen} <= {"1", 1, "a,b"}


def test_space_codec_is_faithful_without_a_server() -> None:
    space = UserSpace(MIXED)
    assert "fixed" not in space.distributions
    names = [p["name"] for p in space.spec["params"]]
    assert "layer 1/units" not in names and any(n.startswith("layer_1_units_") for n in names)
    by_name = {p["name"]: p for p in space.spec["params"]}
    assert by_name["act"]["choices"] == ["None", "True", "2", "2.5", "gelu"]
    assert by_name["clash"]["choices"] == ["#0", "#1", "#2"]
    assert by_name["drop"] == {"name": "drop", "type": "int", "low": 0, "high": 10}
    values = {
        "n": 17,
        "width": 7,
        "lr": 3e-3,
        "drop": 0.35,
        "mom": -0.25,
        "act": 2,
        "clash": 1,
        "layer 1/units": "b",
    }
    back = space.decode(space.encode(values))
    assert back == values and type(back["act"]) is int and type(back["clash"]) is int
    assert space.decode(space.encode({**values, "act": True}))["act"] is True
    assert UserSpace(dict(reversed(MIXED.items()))).digest == space.digest
    with pytest.raises(KeyError):
        space.encode({"n": 2})


def test_fail_is_a_failure_and_pruned_is_stopped(client) -> None:
    sampler = ArchSamplerSampler(client, study="fp", strategy="random")

    def obj(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number % 3 == 1:
            raise RuntimeError("CUDA out of memory")
        if trial.number % 3 == 2:
            trial.report(0.25, step=7)
            raise optuna.TrialPruned()
        return x

    study = optuna.create_study(sampler=sampler)
    study.optimize(obj, n_trials=9, catch=(RuntimeError,))
    stored = archsampler_trials(client, study)
    assert len(stored) == 9
    for t in study.get_trials():
        attr = t.system_attrs[SYSTEM_ATTR]
        a = stored[attr["study"], attr["trial_id"]]
        assert a.metadata["optuna_state"] == t.state.name
        if t.state == TrialState.COMPLETE:
            assert a.state == "COMPLETED" and a.value == t.value
        elif t.state == TrialState.PRUNED:
            assert a.state == "STOPPED" and a.metadata["reason"].startswith("pruned by Optuna")
            assert "step 7" in a.metadata["reason"] and a.value == 0.25  # its last value
        else:
            assert t.state == TrialState.FAIL and a.state == "FAILED"
            assert f"Optuna trial {t.number} failed" in a.metadata["reason"]


def test_growing_space_starts_a_new_study_and_never_reuses_a_proposal(client) -> None:
    sampler = ArchSamplerSampler(client, study="grow", strategy="random")

    def obj(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number >= 4:
            return x + trial.suggest_int("y", 1, 9)
        return x

    study = optuna.create_study(sampler=sampler)
    study.optimize(obj, n_trials=10)
    stored = archsampler_trials(client, study)
    trials = study.get_trials()
    studies = [t.system_attrs[SYSTEM_ATTR]["study"] for t in trials]
    old, new = studies[1], studies[4]
    assert old != new and old.startswith("grow-") and new.startswith("grow-")
    assert studies == [old] * 4 + [new] * 6
    assert [bool(t.system_attrs[SYSTEM_ATTR].get("told")) for t in trials] == (
        [True] + [False] * 3 + [True] + [False] * 5
    )
    # Trial 4's proposal (drawn in the x-only space) is closed as failed, not reused.
    grew = [a for a in stored.values() if a.metadata.get("reason", "").startswith("space grew")]
    assert (
        len(grew) == 1 and grew[0].study == old and grew[0].metadata["optuna_trial_number"] == "4"
    )
    for t in trials:
        attr = t.system_attrs[SYSTEM_ATTR]
        a = stored[attr["study"], attr["trial_id"]]
        assert UserSpace(t.distributions).decode(a.params) == t.params and a.value == t.value
    assert len({(s, a.arch_hash) for (s, _), a in stored.items()}) == len(stored)


def test_given_space_refuses_an_unknown_param_and_tells_enqueued_trials(client) -> None:
    space = {"x": FloatDistribution(0.0, 1.0)}
    sampler = ArchSamplerSampler(client, study="fixed", strategy="random", search_space=space)
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial({"x": 0.125})
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    first = study.trials[0]
    assert first.params == {"x": 0.125} and first.system_attrs[SYSTEM_ATTR]["told"]
    with pytest.raises(ValueError, match="'y'.*has no such parameter"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("y", 0, 3), n_trials=1)
    last = study.trials[-1]
    assert last.state == TrialState.FAIL
    a = client.study("fixed").trials_page(states=["FAILED"])[0]
    assert [t.id for t in a] == [last.system_attrs[SYSTEM_ATTR]["trial_id"]]
    assert [t.value for t in client.study("fixed").trials(states=["COMPLETED"])][0] == 0.125


WORKER = """
import sys, optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from archsampler_client.integrations.optuna import ArchSamplerSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)
space = {{
    "a": CategoricalDistribution(["conv3", "conv5", "skip"]),
    "b": CategoricalDistribution(["relu", "gelu", "silu"]),
    "depth": IntDistribution(1, 4),
}}
sampler = ArchSamplerSampler({target!r}, study="mp", strategy="random", search_space=space)
study = optuna.create_study(
    study_name="shared", storage={storage!r}, sampler=sampler, load_if_exists=True
)
study.optimize(
    lambda t: len(t.suggest_categorical("a", space["a"].choices))
    + t.suggest_int("depth", 1, 4) * (t.suggest_categorical("b", space["b"].choices) == "relu"),
    n_trials=15,
    n_jobs=2,
)
"""


def test_two_processes_on_one_sqlite_storage_get_distinct_proposals(
    server, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="shared", storage=storage)  # avoid a create race
    code = textwrap.dedent(WORKER.format(target=server.target, storage=storage))
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials()
    assert len(trials) == 30 and all(t.state == TrialState.COMPLETE for t in trials)
    # 30 of the 36 architectures: without the service's guarantee, random picks collide.
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 30
    ids = {t.system_attrs[SYSTEM_ATTR]["trial_id"] for t in trials}
    assert len(ids) == 30


def test_trial_asked_by_one_sampler_is_reported_by_another(client) -> None:
    space = {"x": FloatDistribution(0.0, 1.0)}
    storage = optuna.storages.InMemoryStorage()
    ask_side = optuna.create_study(
        storage=storage,
        study_name="s",
        sampler=ArchSamplerSampler(client, study="at", strategy="random", search_space=space),
    )
    tell_side = optuna.load_study(
        storage=storage,
        study_name="s",
        sampler=ArchSamplerSampler(client, study="at", strategy="random", search_space=space),
    )
    trial = ask_side.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    tell_side.tell(trial.number, x * 2)
    (stored,) = client.study("at").trials()
    assert stored.state == "COMPLETED" and stored.value == x * 2


def test_base_client_does_not_import_optuna() -> None:
    code = (
        "import sys, archsampler_client, archsampler_client.integrations; "
        "assert 'optuna' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_infinite_values_early_failures_and_multi_objective(client) -> None:
    sampler = ArchSamplerSampler(client, study="edge", strategy="random")
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)

    def early(trial: Any) -> float:
        raise RuntimeError("data loader crashed")

    study.optimize(early, n_trials=1, catch=(RuntimeError,))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) * float("inf"), n_trials=1)
    last, inf = study.trials[-2:]
    assert last.system_attrs[SYSTEM_ATTR]["skipped"] == "no parameters"
    assert inf.state == TrialState.COMPLETE and inf.value == float("inf")
    a = next(iter(client.study(inf.system_attrs[SYSTEM_ATTR]["study"]).trials(["FAILED"])))
    assert (
        a.id == inf.system_attrs[SYSTEM_ATTR]["trial_id"] and "not finite" in a.metadata["reason"]
    )
    multi = optuna.create_study(sampler=sampler, directions=["minimize", "maximize"])
    with pytest.raises(ValueError, match="multi-objective"):
        multi.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)


def test_running_trials_are_heartbeaten_and_an_exhausted_space_is_a_clear_error(client) -> None:
    space = {"a": CategoricalDistribution(["x", "y"]), "b": IntDistribution(0, 1)}
    sampler = ArchSamplerSampler(
        client, study="hb", strategy="random", search_space=space, heartbeat_interval=0.2
    )
    leases = []

    def obj(trial: Any) -> float:
        trial.suggest_categorical("a", ["x", "y"])
        trial_id = trial.study.trials[trial.number].system_attrs[SYSTEM_ATTR]["trial_id"]
        for _ in range(2):
            (a,) = [t for t in client.study("hb").trials(["PENDING"]) if t.id == trial_id]
            leases.append(a.lease_expires_at)
            time.sleep(0.7)
        return float(trial.suggest_int("b", 0, 1))

    study = optuna.create_study(sampler=sampler)
    study.optimize(obj, n_trials=1)
    assert leases[1] > leases[0]  # the lease moved while the trial ran
    study.optimize(lambda t: t.suggest_int("b", 0, 1) + len(t.suggest_categorical("a", "xy")), 3)
    with pytest.raises(ArchSamplerError) as err:
        study.optimize(lambda t: t.suggest_int("b", 0, 1), n_trials=1)
    assert err.value.code.name == "RESOURCE_EXHAUSTED"
    assert len({tuple(sorted(t.params.items())) for t in study.trials[:4]}) == 4
