"""Every bad input gets a precise status and leaves stored data unchanged."""

from __future__ import annotations

import math

import grpc
import pytest

from archsampler.testing.assertions import expect_error
from archsampler_client import Client
from archsampler_client.proto import archsampler_pb2 as pb

GOOD = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|"


def snapshot(client: Client) -> list:
    """Everything stored: studies with counts and every trial of every study."""
    studies = client.list_studies()
    return [(s, list(client.study(s.name).trials())) for s in studies]


@pytest.fixture()
def seeded(client: Client):
    """A study with one completed and one pending trial."""
    study = client.create_study("s1", space="nb201", strategy="random", seed=3)
    done, pending = study.propose(count=2)
    study.report(done.id, value=90.0)
    return study, done, pending


expect = expect_error


def test_each_bad_input_is_rejected_precisely_and_changes_nothing(client, seeded) -> None:
    study, done, pending = seeded
    before = snapshot(client)
    nf, inv, exists = (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
    )
    # unknown study
    expect(nf, client.study("nope").propose, 1, match="study 'nope' not found")
    expect(nf, client.study("nope").best, match="not found")
    expect(nf, client.study("nope").info, match="not found")
    expect(nf, client.study("nope").tell, GOOD, 1.0, match="not found")
    # malformed / invalid architectures and the wrong space
    expect(inv, study.tell, "garbage", 1.0, match="3 '+'-separated nodes")
    expect(inv, study.tell, GOOD.replace("nor_conv_3x3", "conv7x7"), 1.0, match="unknown op")
    expect(
        inv,
        study.tell,
        "|none~0|+|none~0|none~1|+|none~0|none~1|",
        1.0,
        match="node 3 must have 3 incoming edges",
    )
    expect(
        inv,
        study.tell,
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        1.0,
        match="names source 1",
    )
    expect(inv, study.tell, {"edge_1_0": "none"}, 1.0, match="missing")
    expect(inv, study.tell, {"matrix": "0100", "ops": "input,output"}, 1.0, match="unknown")
    expect(inv, study.tell, "matrix=0100|ops=input,output", 1.0, match="node")
    # values
    for bad in (math.nan, math.inf, -math.inf):
        expect(inv, study.report, pending.id, value=bad, match="finite")
        expect(inv, study.tell, GOOD, bad, match="finite")
    # counts
    for count in (0, -1, 1001):
        expect(inv, study.propose, count, match="count must be in 1..1000")
    # unknown trial
    expect(nf, study.report, 10**9, value=1.0, match="trial 1000000000 not found")
    expect(nf, study.heartbeat, 10**9, match="not found")
    # a different second report of the same trial
    expect(exists, study.report, done.id, value=91.0, match="already reported")
    expect(exists, study.report, done.id, failed="oom", match="already reported")
    # names
    expect(inv, client.create_study, "", "nb201", match="must not be empty")
    expect(inv, client.create_study, "x" * 129, "nb201", match="limit is 128")
    expect(inv, client.create_study, "bad name!", "nb201", match="may only use")
    expect(inv, study.propose, 1, client_id="y" * 500, match="limit is 128")
    expect(inv, client.study("").propose, 1, match="must not be empty")
    # bad study configs
    expect(inv, client.create_study, "s2", "nb999", match="unknown built-in space")
    expect(inv, client.create_study, "s2", "nb201", "nope", match="unknown strategy")
    expect(
        inv,
        client.create_study,
        "s2",
        "nb201",
        "random",
        strategy_options={"x": 1},
        match="unknown options",
    )
    expect(inv, client.create_study, "s2", {"params": []}, match="param")
    assert snapshot(client) == before


def test_same_report_twice_returns_the_stored_trial(client, seeded) -> None:
    study, done, _ = seeded
    stored = next(t for t in study.trials() if t.id == done.id)
    again = study.report(done.id, value=90.0)
    assert again == stored
    assert again.state == "COMPLETED" and again.value == 90.0
    assert [t.value for t in study.trials(states=["COMPLETED"])] == [90.0]


def test_raw_requests_without_required_fields(server) -> None:
    """Requests a typed client would never send: missing oneofs, bad enums, bad tokens."""
    from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc

    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.ArchSamplerStub(channel)
        stub.CreateStudy(
            pb.CreateStudyRequest(
                name="raw",
                config=pb.StudyConfig(space=pb.SpaceSpec(builtin="nb201"), strategy="random"),
            )
        )
        trial = stub.Propose(pb.ProposeRequest(study="raw", count=1)).trials[0]
        cases = [
            (stub.Report, pb.ReportRequest(trial_id=trial.id), "exactly one of"),
            (stub.CreateStudy, pb.CreateStudyRequest(name="raw2"), "config.space is required"),
            (
                stub.CreateStudy,
                pb.CreateStudyRequest(
                    name="raw2", config=pb.StudyConfig(space=pb.SpaceSpec(builtin="nb201"), goal=7)
                ),
                "goal",
            ),
            (stub.ListTrials, pb.ListTrialsRequest(study="raw", page_token="zzz"), "page_token"),
            (stub.ListTrials, pb.ListTrialsRequest(study="raw", page_size=5000), "page_size"),
            (stub.ListTrials, pb.ListTrialsRequest(study="raw", states=[42]), "state"),
            (stub.Tell, pb.TellRequest(study="raw", value=1.0), "architecture is empty"),
            (
                stub.Tell,
                pb.TellRequest(
                    study="raw",
                    value=1.0,
                    architecture=pb.Architecture(params={"edge_1_0": pb.ParamValue()}),
                ),
                "no value",
            ),
        ]
        for method, request, text in cases:
            with pytest.raises(grpc.RpcError) as info:
                method(request)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (request, info.value)
            assert text in info.value.details(), info.value.details()
        listed = stub.ListTrials(pb.ListTrialsRequest(study="raw")).trials
        assert [t.id for t in listed] == [trial.id] and listed[0].state == pb.PENDING
