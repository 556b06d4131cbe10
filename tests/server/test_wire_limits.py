"""Wire-level limits and encodings (issue 11, A4 A6 A7 A8): paged lists that never outgrow a
message, bounded text fields, exact names, a constraint bound of 0, and one zero."""

from __future__ import annotations

import math

import grpc
import pytest

from archsampler.testing.assertions import expect_error
from archsampler_client import Client
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc

XY = {
    "params": [
        {"name": "x", "type": "int", "low": 0, "high": 9},
        {"name": "y", "type": "int", "low": 0, "high": 9},
    ]
}


expect = expect_error


@pytest.fixture()
def stub(server):
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.ArchSamplerStub(channel)


def test_names_with_a_trailing_newline_or_control_characters_are_refused(client: Client) -> None:
    inv = grpc.StatusCode.INVALID_ARGUMENT
    for name in ("abc\n", "abc\r\n", "a\x00b", "\nabc", "ab c", "ab/c"):
        expect(inv, client.create_study, name, space="nb201", match="may only use")
    study = client.create_study("ok", space="nb201", strategy="random")
    expect(inv, study.propose, 1, client_id="w\n", match="client_id")
    expect(inv, study.propose, 1, request_id="r\n", match="request_id")
    assert [s.name for s in client.list_studies()] == ["ok"]
    assert study.info().trial_count == 0


def _xy_space(bound: float, coefficients: dict[str, float]) -> dict:
    return {**XY, "constraints": [{"coefficients": coefficients, "op": "<=", "bound": bound}]}


def test_constraint_bound_zero_and_zero_coefficients_through_the_sdk(client: Client) -> None:
    study = client.create_study(
        "bound0", space=_xy_space(0, {"x": 1.0, "y": -1.0}), strategy="random", seed=1
    )
    info = study.info()
    assert info.config["space"]["user"]["constraints"][0]["bound"] == 0
    trials = study.propose(count=40)
    assert len({t.arch for t in trials}) == 40
    assert all(t.params["x"] <= t.params["y"] for t in trials)
    zero = client.create_study(
        "coef0", space=_xy_space(3, {"x": 0.0, "y": 1.0}), strategy="random", seed=1
    )
    trials = zero.propose(count=30)
    assert all(t.params["y"] <= 3 for t in trials)
    assert {t.params["x"] for t in trials} - {0, 1, 2, 3}, "x is unconstrained"


def test_constraint_bound_zero_over_raw_grpc_and_a_missing_bound_is_named(stub) -> None:
    def create(name: str, constraint: pb.LinearConstraint) -> pb.CreateStudyResponse:
        user = pb.UserSpace(
            params=[
                pb.Param(name="x", type="int", low=0, high=9),
                pb.Param(name="y", type="int", low=0, high=9),
            ],
            constraints=[constraint],
        )
        config = pb.StudyConfig(space=pb.SpaceSpec(user=user), strategy="random")
        return stub.CreateStudy(pb.CreateStudyRequest(name=name, config=config))

    sent = pb.LinearConstraint(coefficients={"x": 1.0, "y": -1.0}, op="<=", bound=0.0)
    assert sent.HasField("bound")  # field presence: the zero travels
    got = create("raw0", sent).study.config.space.user.constraints[0]
    assert got.HasField("bound") and got.bound == 0.0
    answer = stub.Propose(pb.ProposeRequest(study="raw0", count=20))
    for trial in answer.trials:
        params = trial.architecture.params
        assert params["x"].int_value <= params["y"].int_value
    with pytest.raises(grpc.RpcError) as info:
        create("nobound", pb.LinearConstraint(coefficients={"x": 1.0}, op="<="))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bound" in info.value.details()


def test_negative_zero_reads_back_as_one_zero_from_report_and_tell(client: Client) -> None:
    study = client.create_study("zero", space=XY, strategy="random", seed=2)
    (trial,) = study.propose(1)
    reported = study.report(trial.id, value=-0.0)
    told = study.tell("x=9,y=9", value=-0.0)
    for t in (reported, told, *study.trials()):
        assert t.value == 0.0 and math.copysign(1.0, t.value) == 1.0, t
    # the same report again is the same outcome (idempotent), not a conflict
    assert study.report(trial.id, value=0.0).value == 0.0
    assert study.report(trial.id, value=-0.0).value == 0.0


def test_text_fields_are_bounded_and_nothing_is_stored(client: Client) -> None:
    inv = grpc.StatusCode.INVALID_ARGUMENT
    study = client.create_study("text", space=XY, strategy="random", seed=3)
    (trial,) = study.propose(1)
    expect(inv, study.report, trial.id, failed="x" * 4097, match="failed.reason")
    expect(inv, study.report, trial.id, infeasible="x" * 4097, match="infeasible.reason")
    expect(inv, study.report, trial.id, 1.0, checkpoint_uri="u" * 4097, match="checkpoint_uri")
    expect(inv, study.report, trial.id, 1.0, metadata={"k": "v" * 4097}, match="values <=")
    big = {f"k{i:02d}": "v" * 4000 for i in range(20)}  # 80 kB in all
    expect(inv, study.report, trial.id, 1.0, metadata=big, match="65536")
    expect(inv, study.tell, "x=1,y=1", failed="r" * 5000, match="failed.reason")
    (stored,) = study.trials()
    assert stored.state == "PENDING" and stored.metadata == {}
    ok = study.report(trial.id, failed="r" * 4096, metadata={"k": "v" * 4096})
    assert ok.metadata["reason"] == "r" * 4096


def test_list_trials_pages_end_before_the_message_limit(client: Client) -> None:
    """100 trials of ~62 kB each (6 MB) are more than one 4 MB message: the default page
    ends early by bytes, and the SDK's iterator still returns every trial."""
    study = client.create_study("bulk", space=XY, strategy="random", seed=4)
    meta = {f"k{i:02d}": chr(65 + i % 26) * 3800 for i in range(16)}  # ~61 kB per trial
    trials = study.propose(count=100)
    for trial in trials:
        study.report(trial.id, failed="r" * 4096, metadata=meta)
    page, token = study.trials_page(page_size=100)
    assert token, "a 6 MB page must be split"
    assert 20 <= len(page) < 100
    listed = list(study.trials())
    assert [t.id for t in listed] == sorted(t.id for t in trials)
    assert all(t.metadata["k00"] == meta["k00"] for t in listed)


def test_list_studies_is_paged_by_count_and_bytes(client: Client) -> None:
    names = [f"s{i:03d}" for i in range(105)]
    for name in names:
        client.create_study(name, space=XY, strategy="random")
    page, token = client.studies_page(page_size=10)
    assert [s.name for s in page] == names[:10] and token
    page2, _ = client.studies_page(page_size=10, page_token=token)
    assert [s.name for s in page2] == names[10:20]
    first, token = client.studies_page()
    assert len(first) == 100 and token
    assert [s.name for s in client.list_studies()] == names
    expect(grpc.StatusCode.INVALID_ARGUMENT, client.studies_page, 1001, match="page_size")
    expect(grpc.StatusCode.INVALID_ARGUMENT, client.studies_page, 5, "bogus", match="page_token")


def test_report_names_its_study(stub) -> None:
    config = pb.StudyConfig(space=pb.SpaceSpec(builtin="nb201"), strategy="random")
    stub.CreateStudy(pb.CreateStudyRequest(name="named", config=config))
    (trial,) = stub.Propose(pb.ProposeRequest(study="named", count=1)).trials
    for call, request in (
        (stub.Report, pb.ReportRequest(trial_id=trial.id, value=1.0)),
        (stub.Heartbeat, pb.HeartbeatRequest(trial_id=trial.id)),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "study is required" in info.value.details()
    step = pb.ReportAndProposeRequest(
        report=pb.ReportRequest(study="other", trial_id=trial.id, value=1.0),
        propose=pb.ProposeRequest(study="named", count=1),
    )
    (answer,) = stub.Session(iter([pb.SessionRequest(report_and_propose=step)]))
    assert answer.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "differs from propose.study" in answer.error.message
    done = stub.Report(pb.ReportRequest(study="named", trial_id=trial.id, value=1.0))
    assert done.trial.value == 1.0
