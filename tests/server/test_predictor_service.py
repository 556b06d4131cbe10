"""The NAO model inside the service: trained out of process, swapped under load, reloaded."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from archsampler.bench.tables import load_table
from archsampler.spaces.nb201 import NB201Space
from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import Client

FAST = dict(model_min_trials=30, model_retrain_every=30, model_epochs=8, model_min_steps=0)


def wait_for_model(study, arch: str, version: str = "", timeout: float = 240.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            values, got = study.predict([arch])
            if got != version:
                return values, got
        except ArchSamplerError as e:
            assert e.code == grpc.StatusCode.FAILED_PRECONDITION, e
        time.sleep(0.5)
    pytest.fail(f"no model {version!r} after {timeout} s")


def test_model_trains_swaps_under_load_and_survives_restart(tmp_path, benchmarks) -> None:
    space = NB201Space()
    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", space)

    def acc(arch: str) -> float:
        return table.value(space.from_string(arch), "c10_valid_acc")

    db = tmp_path / "m.db"
    with ServerThread(db, **FAST) as srv, Client(srv.target) as c:
        study = c.create_study("nao", space="nb201", strategy="random")
        probe = study.propose(count=1)[0]
        with pytest.raises(ArchSamplerError) as info:
            study.predict([probe.arch])
        assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "no trained model" in info.value.details
        study.report(probe.id, value=acc(probe.arch))
        for t in study.propose(count=35):
            study.report(t.id, value=acc(t.arch))
        values, v1 = wait_for_model(study, probe.arch)
        assert v1 == "v1" and 0.0 < values[0] < 100.0

        # Load: 8 clients propose/report/predict while v2 trains and is swapped in.
        errors: list[BaseException] = []
        versions: set[str] = set()
        stop = threading.Event()

        def worker() -> None:
            try:
                with Client(srv.target) as wc:
                    s = wc.study("nao")
                    while not stop.is_set():
                        (t,) = s.propose(count=1)
                        assert t.predicted_value is not None  # replies carry the prediction
                        s.report(t.id, value=acc(t.arch))
                        versions.add(s.predict([t.arch])[1])
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            wait_for_model(study, probe.arch, version="v1")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert not errors, errors[:3]
        assert {"v1", "v2"} <= versions
    (folder,) = (tmp_path / "m.db.models").glob("nao@*")
    stored = sorted(int(p.name[1:]) for p in folder.glob("v*"))
    assert stored[:2] == [1, 2]
    with ServerThread(db, **FAST) as srv, Client(srv.target) as c:
        assert c.study("nao").predict([probe.arch])[1] == f"v{stored[-1]}"  # latest reloaded


def test_first_model_at_min_trials_and_a_refused_export_keeps_the_model(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    # min_trials below retrain_every (as the defaults 40 / 50): the first model comes at
    # min_trials, and the error says when before that.
    settings = dict(model_min_trials=12, model_retrain_every=50, model_epochs=2, model_min_steps=0)

    def value(arch: str) -> float:
        return float(sum(map(ord, arch)) % 97)

    with ServerThread(tmp_path / "m.db", **settings) as srv, Client(srv.target) as c:
        study = c.create_study("first", space="nb201", strategy="random")
        trials = study.propose(count=17)
        for t in trials[:11]:
            study.report(t.id, value=value(t.arch))
        with pytest.raises(ArchSamplerError) as info:
            study.predict([trials[0].arch])
        assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "once 12 trials completed (11 so far)" in info.value.details
        study.report(trials[11].id, value=value(trials[11].arch))
        _, v1 = wait_for_model(study, trials[0].arch)
        assert v1 == "v1"

        # The next export fails its parity check: refused, logged, counted; v1 stays.
        models = srv.running.service.models
        models.config["parity_tol"] = -1.0
        models.retrain_every = 5
        for t in trials[12:]:
            study.report(t.id, value=value(t.arch))
        deadline = time.time() + 240
        while models.refusals.get("first", 0) < 1 and time.time() < deadline:
            time.sleep(0.2)
        assert models.refusals == {"first": 1}
        assert study.predict([trials[0].arch])[1] == "v1"
        assert len(study.propose(count=2)) == 2  # the study goes on
        assert any("model export refused" in r.getMessage() for r in caplog.records)
        (folder,) = (tmp_path / "m.db.models").glob("first@*")
        assert sorted(p.name for p in folder.iterdir()) == ["v1"]  # nothing half-written


def _settle(models, study: str, timeout: float = 240.0) -> None:
    """Wait until no training (or training check) of `study` is running."""
    deadline = time.time() + timeout
    while study in models._training and time.time() < deadline:
        time.sleep(0.1)
    assert study not in models._training, f"training of {study} still running"


@pytest.mark.parametrize("hosts", [0, 1], ids=["in-process", "strategy-host"])
def test_a_model_that_fails_its_ranking_gate_is_retrained_sooner(tmp_path, hosts: int) -> None:
    # gate_alpha 0: no model can pass (p >= 1/2001); 1.0: every model passes. With a
    # strategy host, the model reaches the strategy in the host process (loaded from disk).
    settings = dict(
        strategy_processes=hosts,
        model_min_trials=12,
        model_retrain_every=50,
        model_gate_retry_every=3,
        model_epochs=2,
        model_min_steps=0,
    )
    with ServerThread(tmp_path / "m.db", **settings) as srv, Client(srv.target) as c:
        models = srv.running.service.models
        models.config["gate_alpha"] = 0.0
        study = c.create_study("gate", space="nb201", strategy="nao", seed=1)
        trials = iter(study.propose(count=60))

        def report(k: int) -> None:
            for _ in range(k):
                t = next(trials)
                study.report(t.id, value=float(sum(map(ord, t.arch)) % 89))
                _settle(models, "gate")

        def version() -> str:
            return study.predict([trials_seen[0]])[1]

        first = next(trials)
        trials_seen = [first.arch]
        study.report(first.id, value=1.0)
        report(11)  # 12 completed: v1, which fails the gate
        assert version() == "v1" and models.gate_failures == {"gate": 1}
        assert {p.region for p in study.propose(count=2)} == {"random"}  # not used
        report(2)  # 14: the retry comes after 3, not 50
        assert version() == "v1"
        report(1)  # 15: v2, fails again -> the next after 6
        assert version() == "v2" and models.gate_failures == {"gate": 2}
        models.config["gate_alpha"] = 1.0
        report(5)  # 20
        assert version() == "v2"
        report(1)  # 21: v3 passes; back to every 50
        assert version() == "v3" and models.gate_failures == {}
        assert all(p.region != "random" for p in study.propose(count=2))  # the model ranks
        report(6)
        assert version() == "v3"
