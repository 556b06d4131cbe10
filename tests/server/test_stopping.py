"""Intermediate values and early stopping (issue 14 item 1) against a real server: the
median, ASHA and learning-curve rules decide as documented, a stopped trial ends STOPPED
with its last value and the strategy learns from it, and every bad input is refused."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from archsampler import Engine
from archsampler.runtime import StudyRuntime
from archsampler.storage import SQLStorage
from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import Client
from archsampler_client import TrialState

SPACE = {
    "params": [
        {"name": "a", "type": "int", "low": 0, "high": 63},
        {"name": "b", "type": "categorical", "choices": ["x", "y", "z"]},
    ]
}


def _code(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(ArchSamplerError) as info:
        fn()
    return info.value.code, info.value.details


def _run(study, trial_id: int, curve: list[float], complete: bool = True) -> list[bool]:
    answers = [study.report_intermediate(trial_id, s, v) for s, v in enumerate(curve)]
    if complete:
        study.report(trial_id, curve[-1])
    return answers


@pytest.fixture()
def client(tmp_path: Path):
    with ServerThread(tmp_path / "s.db") as srv, Client(srv.target, retries=0) as c:
        yield c


def test_median_rule_stops_a_trial_below_the_median(client: Client, tmp_path: Path) -> None:
    stopping = {"rule": "median", "options": {"startup_trials": 2, "warmup_steps": 1}}
    study = client.create_study("m", SPACE, "lanas", stopping=stopping)
    assert study.info().config["stopping"] == {
        "rule": "median", "options": {"startup_trials": 2, "warmup_steps": 1}
    }  # fmt: skip
    a, b, c, d = study.propose(4)
    assert _run(study, a.id, [0.2, 0.4, 0.6]) == [False] * 3  # nobody to compare with
    assert _run(study, b.id, [0.3, 0.5, 0.7]) == [False] * 3  # one finished peer < 2
    # step 0 is warm-up; at step 1 the best so far (0.35) is below the median (0.45)
    assert _run(study, c.id, [0.35, 0.1], complete=False) == [False, True]
    assert study.should_stop(c.id) is True
    stopped = study.report(c.id, stopped="median rule")
    assert (stopped.state, stopped.value) == (TrialState.STOPPED, 0.1)  # its last value
    assert stopped.metadata["reason"] == "median rule"
    again = study.report(c.id, stopped="median rule")  # the same stop again: no change
    assert again.value == 0.1 and again.finished_at == stopped.finished_at
    # above the median at every step: continues; STOPPED trials count as finished peers
    assert _run(study, d.id, [0.9, 0.95, 0.99], complete=False) == [False] * 3
    assert study.intermediate_values(d.id) == [(0, 0.9), (1, 0.95), (2, 0.99)]
    assert study.best().id == b.id  # a STOPPED value is partial: never the best
    counts = {t.state for t in study.trials()}
    assert counts == {TrialState.COMPLETED, TrialState.STOPPED, TrialState.PENDING}


def test_stopped_trials_are_evidence_for_the_strategy(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with ServerThread(db) as srv, Client(srv.target) as client:
        study = client.create_study("e", SPACE, "lanas", stopping={"rule": "median"})
        trials = study.propose(12)
        for i, t in enumerate(trials[:8]):
            study.report(t.id, i / 10)
        for t in trials[8:]:
            study.report_intermediate(t.id, 0, 0.05)
            study.report(t.id, stopped=True)
    storage = SQLStorage(str(db))
    try:
        with storage.read_batch() as batch:
            runtime = StudyRuntime.load(batch, "e")
            runtime.sync(batch)
        root = runtime.strategy.describe()[0]
        assert root["count"] == 12  # 8 completed + 4 stopped observed by the tree
        assert root["mean"] == pytest.approx((sum(i / 10 for i in range(8)) + 4 * 0.05) / 12)
    finally:
        storage.close()


def test_asha_keeps_the_top_of_each_rung(client: Client) -> None:
    stopping = {"rule": "asha", "options": {"min_step": 1, "reduction_factor": 2}}
    study = client.create_study("a", SPACE, "random", stopping=stopping)
    t1, t2, t3, t4 = study.propose(4)
    assert study.report_intermediate(t1.id, 0, 0.1) is False  # below the first rung
    assert study.report_intermediate(t1.id, 1, 0.5) is False  # alone at rung 0: the best
    assert study.report_intermediate(t2.id, 1, 0.3) is True  # top 1 of 2 at step 1 is t1
    assert study.report_intermediate(t3.id, 1, 0.7) is False  # the new best of 3
    assert study.report_intermediate(t3.id, 3, 0.1) is False  # step 3 is no rung
    assert study.report_intermediate(t3.id, 2, 0.8) is False  # rung 1 (step 2): alone
    assert study.report_intermediate(t1.id, 2, 0.6) is True  # rung 1: below t3
    assert study.report_intermediate(t4.id, 1, 0.6) is False  # top 2 of 4 at step 1


def test_curve_rule_extrapolates(client: Client) -> None:
    stopping = {"rule": "curve", "options": {"max_step": 20, "min_points": 4}}
    study = client.create_study("c", SPACE, "random", stopping=stopping)
    best, slow, fast = study.propose(3)
    _run(study, best.id, [0.5, 0.7, 0.8, 0.85, 0.88])
    # saturating near 0.5: predicted far below the best completed 0.88 -> stop
    assert _run(study, slow.id, [0.30, 0.40, 0.44, 0.46], complete=False)[-1] is True
    # still rising steeply towards 1.0: continue
    assert _run(study, fast.id, [0.30, 0.60, 0.75, 0.84], complete=False)[-1] is False


def test_minimize_flips_the_comparisons(client: Client) -> None:
    stopping = {"rule": "median", "options": {"startup_trials": 1}}
    study = client.create_study("min", SPACE, "random", goal="minimize", stopping=stopping)
    a, b = study.propose(2)
    _run(study, a.id, [1.0, 0.5])
    assert study.report_intermediate(b.id, 0, 2.0) is True  # a loss above the median
    assert study.should_stop(b.id) is True


def test_bad_input_is_refused_precisely(client: Client) -> None:
    study = client.create_study("bad", SPACE, "random")
    t, u = study.propose(2)
    assert study.report_intermediate(t.id, 0, 0.5) is False  # no rule: never stop
    assert study.report_intermediate(t.id, 0, 0.5) is False  # the same value again: fine
    code, msg = _code(lambda: study.report_intermediate(t.id, 0, 0.6))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "at step 0" in msg
    bad_values = [(-1, 0.1, "step must be in 0..1000000000"), (10**9 + 1, 0.1, "step must be"),
                  (1, float("nan"), "finite"), (1, float("inf"), "finite")]  # fmt: skip
    for step, value, words in bad_values:
        code, msg = _code(lambda s=step, v=value: study.report_intermediate(t.id, s, v))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and words in msg
    code, msg = _code(lambda: study.report(u.id, stopped=True))  # nothing to stop at
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "no intermediate value" in msg
    assert study.report(u.id, 0.25, stopped="by hand").value == 0.25
    code, msg = _code(lambda: study.report_intermediate(u.id, 1, 0.3))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "STOPPED" in msg
    code, _ = _code(lambda: study.should_stop(u.id))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _ = _code(lambda: client.study("nope").report_intermediate(t.id, 1, 0.1))
    assert code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ValueError, match="stopped= goes with value="):
        study.report(t.id, failed="oom", stopped=True)

    bad_configs = {
        "rule must be one of": {"rule": "hyperband"},
        "has no options ['patience']": {"rule": "median", "options": {"patience": 3}},
        "max_step is required": {"rule": "curve"},
        "reduction_factor must be in [2, 100]": {"rule": "asha",
                                                 "options": {"reduction_factor": 1}},
        "startup_trials must be an integer": {"rule": "median",
                                              "options": {"startup_trials": 1.5}},
    }  # fmt: skip
    for i, (words, stopping) in enumerate(bad_configs.items()):
        code, msg = _code(lambda s=stopping, i=i: client.create_study(f"b{i}", SPACE, stopping=s))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and words in msg, msg


def test_session_and_engine_carry_the_same_calls(client: Client, tmp_path: Path) -> None:
    median = {"rule": "median", "options": {"startup_trials": 1}}
    study = client.create_study("s", SPACE, "random", stopping=median)
    a, b = study.propose(2)
    _run(study, a.id, [0.5, 0.6])
    with study.session() as session:
        assert session.report_intermediate(b.id, 0, 0.1) is True
        assert session.should_stop(b.id) is True
        assert session.report(b.id, stopped=True).state == TrialState.STOPPED
    with Engine(str(tmp_path / "engine.db")) as engine:
        es = engine.create_study("s", SPACE, "random", stopping={"rule": "asha"})
        (t,) = es.propose(1)
        assert es.report_intermediate(t.id, 1, 0.4) is False
        assert es.intermediate_values(t.id) == [(1, 0.4)]
        assert es.report(t.id, stopped=True).value == 0.4


def test_a_study_without_stopping_compares_equal_to_its_old_config(client: Client) -> None:
    client.create_study("same", SPACE, "random")
    again = client.create_study("same", SPACE, "random")  # loaded, not ALREADY_EXISTS
    assert "stopping" not in again.info().config
    code, msg = _code(lambda: client.create_study("same", SPACE, "random",
                                                  stopping={"rule": "median"}))  # fmt: skip
    assert code == grpc.StatusCode.ALREADY_EXISTS and "stopping" in msg
