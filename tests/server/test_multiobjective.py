"""Several objectives against a real server (issue 14 item 2): declared objectives and
metric constraints, validated reports, the Pareto front from GetBest (checked by brute
force), constraint violators never on it, and strategies that cannot optimise several
objectives refused at CreateStudy."""

from __future__ import annotations

import itertools
from pathlib import Path

import grpc
import numpy as np
import pytest

from archsampler.runtime import StudyRuntime
from archsampler.storage import SQLStorage
from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import Client
from archsampler_client import TrialState

SPACE = {"params": [{"name": "a", "type": "int", "low": 0, "high": 999}]}
OBJECTIVES = {"acc": "maximize", "params": "minimize", "latency": "minimize"}


@pytest.fixture()
def client(tmp_path: Path):
    with ServerThread(tmp_path / "s.db") as srv, Client(srv.target, retries=0) as c:
        yield c


def _code(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(ArchSamplerError) as info:
        fn()
    return info.value.code, info.value.details


def test_config_round_trips_and_single_objective_config_is_unchanged(client: Client) -> None:
    one = client.create_study("one", SPACE, "random")
    assert "objectives" not in one.info().config
    study = client.create_study(
        "mo",
        SPACE,
        "lanas",
        objectives=OBJECTIVES,
        metric_constraints=[{"name": "params", "op": "<=", "bound": 1e6}],
    )
    config = study.info().config
    assert [o["name"] for o in config["objectives"]] == ["acc", "params", "latency"]
    assert config["objectives"][1]["goal"] == "MINIMIZE"
    assert config["metric_constraints"] == [{"name": "params", "op": "<=", "bound": 1e6}]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"objectives": {"acc": "maximize"}}, "give 2..8"),
        ({"objectives": [{"name": "a b", "goal": "maximize"}] * 2}, "objectives[0].name"),
        ({"objectives": [{"name": "x", "goal": "maximize"}] * 2}, "appears twice"),
        (
            {"metric_constraints": [{"name": "p", "op": "<=", "bound": 1}]},
            "needs config.objectives",
        ),
        (
            {
                "objectives": OBJECTIVES,
                "metric_constraints": [{"name": "q", "op": "<=", "bound": 1}],
            },
            "metric_constraints[0].name",
        ),
        (
            {
                "objectives": OBJECTIVES,
                "metric_constraints": [{"name": "acc", "op": "<", "bound": 1}],
            },
            "metric_constraints[0].op",
        ),
        (
            {
                "objectives": OBJECTIVES,
                "metric_constraints": [{"name": "acc", "op": "<=", "bound": 1e301}],
            },
            "metric_constraints[0].bound",
        ),
    ],
)
def test_bad_objective_configs_are_invalid_argument(client: Client, kwargs, needle) -> None:
    code, details = _code(lambda: client.create_study("bad", SPACE, "random", **kwargs))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in details


@pytest.mark.parametrize("strategy", ["alphax", "hierarchical", "reinforce"])
def test_single_objective_strategies_are_refused(client: Client, strategy: str) -> None:
    code, details = _code(lambda: client.create_study("s", SPACE, strategy, objectives=OBJECTIVES))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{strategy!r} optimises one objective" in details


def test_reports_are_validated_against_the_objectives(client: Client) -> None:
    mo = client.create_study("mo", SPACE, "random", objectives=OBJECTIVES)
    one = client.create_study("one", SPACE, "random")
    (t,) = mo.propose(1)
    (u,) = one.propose(1)
    cases = [
        (lambda: mo.report(t.id, 0.5), "report objective_values, not a single value"),
        (lambda: mo.report(t.id, values={"acc": 1.0, "params": 2.0}), "missing ['latency']"),
        (
            lambda: mo.report(t.id, values={"acc": 1, "params": 2, "latency": 3, "x": 4}),
            "unknown ['x']",
        ),
        (
            lambda: mo.report(t.id, values={"acc": 1e301, "params": 2, "latency": 3}),
            "objective_values['acc'] must be finite with |v| <= 1e+300",
        ),
        (
            lambda: mo.report(t.id, values={"acc": float("nan"), "params": 2, "latency": 3}),
            "finite",
        ),
        (
            lambda: one.report(u.id, values={"acc": 1.0, "params": 2.0}),
            "this study has one objective",
        ),
    ]
    for fn, needle in cases:
        code, details = _code(fn)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert needle in details, details
    done = mo.report(t.id, values={"acc": 0.9, "params": 1e5, "latency": 3.0})
    assert done.state == TrialState.COMPLETED
    assert done.values == {"acc": 0.9, "params": 1e5, "latency": 3.0}
    assert done.value == 0.9  # the first objective, for readers of `value`
    again = mo.report(t.id, values={"acc": 0.9, "params": 1e5, "latency": 3.0})  # idempotent
    assert again.values == done.values
    assert next(iter(mo.trials())).values == done.values
    assert one.report(u.id, 0.5).values is None


def test_pareto_front_matches_brute_force_and_honours_the_constraint(client: Client) -> None:
    study = client.create_study(
        "front",
        SPACE,
        "random",
        objectives=OBJECTIVES,
        metric_constraints=[{"name": "params", "op": "<=", "bound": 800}],
    )
    assert _code(study.pareto_front)[0] == grpc.StatusCode.NOT_FOUND
    rng = np.random.default_rng(0)
    reported = {}
    for t in study.propose(60):
        v = {
            "acc": float(rng.integers(0, 8)),
            "params": float(rng.integers(0, 1000)),
            "latency": float(rng.integers(0, 8)),
        }
        if t.number == 0:
            v = {"acc": 100.0, "params": 900.0, "latency": 0.0}  # dominates all; infeasible
        study.report(t.id, values=v)
        reported[t.id] = v
    feasible = {i: v for i, v in reported.items() if v["params"] <= 800}

    def dominates(a, b) -> bool:
        x = (a["acc"], -a["params"], -a["latency"])
        y = (b["acc"], -b["params"], -b["latency"])
        return all(p >= q for p, q in zip(x, y, strict=True)) and x != y

    expect = sorted(
        i for i, v in feasible.items() if not any(dominates(w, v) for w in feasible.values())
    )
    front = study.pareto_front()
    assert [t.id for t in front] == expect
    assert study.best().id == expect[0]
    assert min(reported) not in expect  # the infeasible dominating trial is never on it
    assert all(t.values == reported[t.id] for t in front)
    for a, b in itertools.combinations(front, 2):
        assert not dominates(a.values, b.values) and not dominates(b.values, a.values)


@pytest.mark.parametrize("strategy", ["lanas", "evolution", "random"])
def test_strategies_propose_new_architectures_from_vectors(client: Client, strategy: str) -> None:
    study = client.create_study(
        "s", SPACE, strategy, objectives={"acc": "maximize", "cost": "minimize"}
    )
    seen = set()
    for _ in range(40):
        (t,) = study.propose(1)
        assert t.arch_hash not in seen
        seen.add(t.arch_hash)
        a = t.params["a"]
        study.report(t.id, values={"acc": -abs(a - 300) / 10, "cost": float(a)})
    assert len(study.pareto_front()) >= 1


def test_tell_carries_objective_values(client: Client) -> None:
    study = client.create_study("t", SPACE, "lanas", objectives=OBJECTIVES)
    values = {"acc": 0.5, "params": 10.0, "latency": 1.0}
    told = study.tell("a=7", values=values)
    assert told.state == TrialState.COMPLETED and told.values == values and told.value == 0.5
    code, details = _code(lambda: study.tell("a=8", 0.5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "report objective_values" in details
    code, details = _code(lambda: study.tell_many([{"arch": "a=9", "value": 1.0}]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "TellMany rows carry one value" in details
    assert [t.id for t in study.pareto_front()] == [told.id]


def test_the_runtime_hands_strategies_signed_vectors_and_feasibility(tmp_path: Path) -> None:
    """Minimised objectives reach the strategy negated; a constraint violator arrives as
    infeasible evidence (NSGA-II's elite ranks it below every feasible trial)."""
    db = tmp_path / "r.db"
    with ServerThread(db) as srv, Client(srv.target, retries=0) as c:
        study = c.create_study(
            "r",
            SPACE,
            "evolution",
            strategy_options={"population": 3, "sample_size": 1},
            objectives={"acc": "maximize", "params": "minimize"},
            metric_constraints=[{"name": "params", "op": "<=", "bound": 100}],
        )
        a, b, d = study.propose(3)
        study.report(a.id, values={"acc": 0.9, "params": 500.0})  # best, but infeasible
        study.report(b.id, values={"acc": 0.5, "params": 50.0})
        study.report(d.id, values={"acc": 0.4, "params": 60.0})
    storage = SQLStorage(str(db))
    try:
        with storage.read_batch() as batch:
            runtime = StudyRuntime.load(batch, "r")
            runtime.sync(batch)
    finally:
        storage.close()
    elite = runtime.strategy.elite  # type: ignore[attr-defined]
    by_vector = {
        tuple(v): (feasible, rank)
        for (_, v, feasible), rank in zip(
            elite,
            runtime.strategy._elite_rank,
            strict=True,  # type: ignore[attr-defined]
        )
    }
    assert by_vector == {
        (0.9, -500.0): (False, 2),
        (0.5, -50.0): (True, 0),
        (0.4, -60.0): (True, 1),
    }
