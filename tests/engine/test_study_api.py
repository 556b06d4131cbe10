"""The SDK's study API, run alike against an in-process `Engine` and a real server.

`target` is an Engine or a server (`ServerThread` on loopback) with a `Client`, each on an
SQLite file and on a fresh PostgreSQL database (skipped with a reason unless
ARCHSAMPLER_TEST_POSTGRES_URL is set). Every test asserts the same answers, models and
errors (class, code, message) on each.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import grpc
import pytest

from archsampler import Engine
from archsampler.testing import ServerThread
from archsampler.testing.assertions import expect_error
from archsampler.testing.spaces import categorical_space
from archsampler_client import AlreadyExistsError
from archsampler_client import Client
from archsampler_client import InvalidArgumentError
from archsampler_client import NotFoundError
from archsampler_client.models import StudyInfo
from archsampler_client.models import Trial
from archsampler_client.models import TrialState

SPACE = categorical_space(3, 4)  # 64 architectures


class Target:
    """What a test talks to (`api`: an Engine or a Client) and how to restart it."""

    def __init__(self, kind: str, db: str) -> None:
        self.kind, self.db = kind, db
        self._server: ServerThread | None = None
        self.api: Any = None
        self.start()

    def start(self) -> None:
        if self.kind.startswith("engine"):
            self.api = Engine(self.db, model_min_trials=10_000)
        else:
            self._server = ServerThread(self.db, model_min_trials=10_000).start()
            self.api = Client(self._server.target, retries=2)

    def stop(self) -> None:
        self.api.close()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(params=["engine", "server", "engine-postgres", "server-postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    db = (
        request.getfixturevalue("postgres_url")
        if request.param.endswith("postgres")
        else str(tmp_path / "studies.db")
    )
    t = Target(request.param, db)
    yield t
    t.stop()


def step(study: Any, trial_id: int, value: float) -> tuple[Trial, list[Trial]]:
    """A loop step: the Engine's study has it; on a server it goes over a session."""
    with study.session() as session:
        return session.report_and_propose(trial_id, value)


def test_propose_report_best_trials_info(target: Target) -> None:
    study = target.api.create_study("s", SPACE, "random", goal="minimize", seed=3)
    trials = study.propose(3, client_id="w1")
    assert all(isinstance(t, Trial) and t.state is TrialState.PENDING for t in trials)
    assert len({t.arch for t in trials}) == 3 and [t.number for t in trials] == [0, 1, 2]
    assert all(t.client_id == "w1" and t.lease_expires_at for t in trials)
    done = study.report(trials[0].id, 0.5, metadata={"epoch": "3"})
    assert done.state is TrialState.COMPLETED and done.value == 0.5
    assert done.metadata == {"epoch": "3"} and done.finished_at is not None
    failed = study.report(trials[1].id, failed="out of memory")
    assert failed.state is TrialState.FAILED and failed.metadata["reason"] == "out of memory"
    assert study.report(trials[2].id, 0.25).value == 0.25
    assert study.best().id == trials[2].id  # minimize
    listed = list(study.trials(page_size=2))  # three pages
    assert [t.id for t in listed] == [t.id for t in trials]
    assert [t.id for t in study.trials(states=["FAILED"])] == [trials[1].id]
    info = study.info()
    assert isinstance(info, StudyInfo) and info.name == "s"
    assert (info.trial_count, info.completed_count, info.pending_count) == (3, 2, 0)
    assert info.config["strategy"] == "random" and info.config["goal"] == "MINIMIZE"
    assert [s.name for s in target.api.list_studies()] == ["s"]


def test_create_loads_the_same_config_and_refuses_another(target: Target) -> None:
    target.api.create_study("s", SPACE, "random", seed=1)
    again = target.api.create_study("s", SPACE, "random", seed=1)
    assert again.info().trial_count == 0
    expect_error(grpc.StatusCode.ALREADY_EXISTS, target.api.create_study, "s", SPACE, "evolution")
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        target.api.create_study,
        "bad name!",
        SPACE,
        match="may only use [A-Za-z0-9_.-]",
    )
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        target.api.create_study,
        "t",
        SPACE,
        "no-such-strategy",
        match="config.strategy",
    )


def test_report_and_propose_reports_first_then_proposes(target: Target) -> None:
    study = target.api.create_study("s", SPACE, "random")
    (first,) = study.propose()
    reported, new = step(study, first.id, 0.75)
    assert reported.id == first.id and reported.state is TrialState.COMPLETED
    assert len(new) == 1 and new[0].state is TrialState.PENDING and new[0].arch != first.arch
    if target.kind.startswith("engine"):  # the Engine's study also has it directly
        reported, again = study.report_and_propose(new[0].id, 0.5, count=2)
        assert reported.value == 0.5 and len(again) == 2
    # a failed report proposes nothing; its error is the report's
    count = study.info().trial_count
    expect_error(grpc.StatusCode.NOT_FOUND, step, study, 10_000, 1.0)
    assert study.info().trial_count == count


def test_tell_imports_results_and_refuses_a_duplicate(target: Target) -> None:
    study = target.api.create_study("s", SPACE, "random")
    told = study.tell({"p0": "c1", "p1": "c2", "p2": "c3"}, 0.9)
    assert told.state is TrialState.COMPLETED and told.arch
    expect_error(grpc.StatusCode.ALREADY_EXISTS, study.tell, told.arch, 0.1, match="already")
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, study.tell, {"p0": "c9", "p1": "c0", "p2": "c0"}, 1.0
    )
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        study.tell,
        {"p0": "c0", "p1": "c0", "p2": "c0"},
        math.nan,
        match="finite",
    )
    assert study.best().id == told.id
    # never proposed again: 63 proposals exhaust the rest of the space
    proposed = study.propose(63)
    assert told.arch not in {t.arch for t in proposed}
    expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, study.propose)


def test_errors_carry_the_servers_codes_and_messages(target: Target) -> None:
    api = target.api
    missing = api.study("missing")
    err = expect_error(grpc.StatusCode.NOT_FOUND, missing.propose, match="'missing'")
    assert isinstance(err, NotFoundError)
    expect_error(grpc.StatusCode.NOT_FOUND, missing.best)
    expect_error(grpc.StatusCode.NOT_FOUND, missing.info)
    study = api.create_study("s", SPACE, "random")
    expect_error(grpc.StatusCode.NOT_FOUND, study.best, match="no completed")
    err = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, study.propose, 0, match="count must be in 1..1000"
    )
    assert isinstance(err, InvalidArgumentError)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, study.propose, 1001)
    (trial,) = study.propose()
    study.report(trial.id, 1.0)
    assert study.report(trial.id, 1.0).value == 1.0  # the same report again: idempotent
    err = expect_error(grpc.StatusCode.ALREADY_EXISTS, study.report, trial.id, 2.0)
    assert isinstance(err, AlreadyExistsError)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, study.heartbeat, trial.id)
    expect_error(grpc.StatusCode.NOT_FOUND, study.report, 999_999, 1.0)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, study.predict, [trial.arch], match="model")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, study.trials_page, 1001, match="page_size")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, study.trials_page, 5, "x", match="page_token")
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        study.report,
        trial.id,
        failed="x" * 5000,
        match="failed.reason is longer than 4096",
    )
    with pytest.raises(ValueError, match="exactly one"):  # the SDK's own check, before a call
        study.report(trial.id)


def test_request_id_retries_heartbeat_and_delete(target: Target) -> None:
    study = target.api.create_study("s", SPACE, "random")
    first = study.propose(2, request_id="req-1")
    assert [t.id for t in study.propose(2, request_id="req-1")] == [t.id for t in first]
    beat = study.heartbeat(first[0].id)
    assert beat.lease_expires_at >= first[0].lease_expires_at
    study.delete()
    expect_error(grpc.StatusCode.NOT_FOUND, study.info)
    assert target.api.list_studies() == []


def test_restart_keeps_studies_and_pending_trials(target: Target) -> None:
    study = target.api.create_study("s", SPACE, "random", seed=5)
    pending = study.propose(3)
    study.report(pending[0].id, 0.5)
    target.restart()
    study = target.api.study("s")
    by_state = {s: [t.id for t in study.trials(states=[s])] for s in ("PENDING", "COMPLETED")}
    assert by_state == {"PENDING": [t.id for t in pending[1:]], "COMPLETED": [pending[0].id]}
    assert study.report(pending[1].id, 0.75).state is TrialState.COMPLETED  # after a restart
    fresh = study.propose(5)
    assert not {t.arch for t in fresh} & {t.arch for t in pending}  # never proposed twice
    assert study.best().id == pending[1].id


def test_every_report_call_takes_every_outcome(target: Target) -> None:
    """`Study.report`, a session's `report` and `report_and_propose` (and the Engine's)
    take the same outcomes: several objectives' `values`, `stopped`, `retryable`."""
    objectives = {"acc": "maximize", "size": "minimize"}
    study = target.api.create_study(
        "mo", SPACE, "random", objectives=objectives, seed=2, max_retries=1
    )
    trials = study.propose(3)
    with study.session() as session:
        done = session.report(trials[0].id, values={"acc": 0.9, "size": 3.0})
        assert done.state is TrialState.COMPLETED and done.values == {"acc": 0.9, "size": 3.0}
        reported, new = session.report_and_propose(
            trials[1].id, values={"acc": 0.8, "size": 1.0}, count=2
        )
        assert reported.values == {"acc": 0.8, "size": 1.0} and len(new) == 2
        stopped, _ = session.report_and_propose(
            trials[2].id, values={"acc": 0.1, "size": 9.0}, stopped="diverged", count=1
        )
        assert stopped.state is TrialState.STOPPED
        failed, _ = session.report_and_propose(new[0].id, failed="preempted", retryable=True)
        assert failed.state is TrialState.FAILED
    queued = [t for t in study.trials() if t.arch == new[0].arch and t.id != new[0].id]
    assert len(queued) == 1  # the retryable failure queued its architecture again
    if target.kind.startswith("engine"):
        reported, _ = study.report_and_propose(new[1].id, values={"acc": 0.5, "size": 2.0})
        assert reported.values == {"acc": 0.5, "size": 2.0}


def test_the_report_calls_agree_on_their_outcome_parameters() -> None:
    """One list of outcome parameters for every report call (nothing drifts apart)."""
    import inspect

    from archsampler.engine import EngineStudy
    from archsampler_client._study import StudyOps
    from archsampler_client.session import SessionOps

    def outcome(fn: Any) -> list[str]:
        names = list(inspect.signature(fn).parameters)
        return [n for n in names if n not in ("self", "count", "client_id", "request_id")]

    want = outcome(StudyOps.report)
    assert want[:3] == ["trial_id", "value", "failed"] and "values" in want
    assert outcome(SessionOps.report) == want
    assert outcome(SessionOps.report_and_propose) == want
    assert outcome(EngineStudy.report_and_propose) == want
