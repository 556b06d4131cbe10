"""The study workflow through the client SDK against a real server."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc

from archsampler.spaces.nb201 import NB201Space
from archsampler_client import AlreadyExistsError
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient
from archsampler_client import NotFoundError


def test_readme_example(client, benchmarks) -> None:
    from archsampler.bench.tables import load_table

    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", NB201Space())

    def train(arch: str) -> float:
        return table.value(NB201Space().from_string(arch), "c10_valid_acc")

    study = client.create_study("demo", space="nb201", strategy="random")
    for trial in study.propose(count=4, client_id="worker-1"):
        study.report(trial.id, value=train(trial.arch))
    best = study.best()
    values = [t.value for t in study.trials()]
    assert best.value == max(values) and len(values) == 4
    assert best.arch.startswith("|") and best.params["edge_1_0"] in best.arch


def test_create_is_create_or_load_and_names_the_differing_field(client) -> None:
    client.create_study("s", space="nb201", strategy="random", seed=1)
    again = client.create_study("s", space="nb201", strategy="random", seed=1)
    assert again.info().config["strategy"] == "random"
    with pytest.raises(AlreadyExistsError) as info:
        client.create_study("s", space="nb201", strategy="random", seed=2)
    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert "config.seed: existing 1, requested 2" in info.value.details
    with pytest.raises(AlreadyExistsError, match="config.strategy"):
        client.create_study("s", space="nb201", strategy="evolution", seed=1)
    assert [s.name for s in client.list_studies()] == ["s"]


def test_propose_report_list_best_delete(client) -> None:
    study = client.create_study("w", space="nb201", strategy="random", goal="minimize")
    trials = study.propose(count=10, client_id="w1")
    assert len({t.arch_hash for t in trials}) == 10
    assert all(t.state == "PENDING" and t.client_id == "w1" for t in trials)
    assert all(t.lease_expires_at and t.lease_expires_at > t.created_at for t in trials)
    for i, t in enumerate(trials[:6]):
        study.report(t.id, value=float(i), checkpoint_uri=f"s3://ck/{i}", metadata={"k": "v"})
    study.report(trials[6].id, failed="out of memory")
    study.report(trials[7].id, infeasible="too big")
    assert study.best().value == 0.0  # minimize
    info = study.info()
    assert (info.trial_count, info.completed_count, info.pending_count) == (10, 6, 2)
    page, token = study.trials_page(page_size=3)
    assert [t.number for t in page] == [0, 1, 2] and token
    assert [t.number for t in study.trials(page_size=3)] == list(range(10))
    failed = list(study.trials(states=["FAILED", "INFEASIBLE"]))
    assert [(t.state, t.metadata["reason"]) for t in failed] == [
        ("FAILED", "out of memory"),
        ("INFEASIBLE", "too big"),
    ]
    assert study.heartbeat(trials[8].id).lease_expires_at >= trials[8].lease_expires_at
    told = study.tell(
        {
            "edge_1_0": "none",
            "edge_2_0": "none",
            "edge_2_1": "none",
            "edge_3_0": "none",
            "edge_3_1": "none",
            "edge_3_2": "skip_connect",
        },
        5.0,
    )
    assert told.state == "COMPLETED" and told.arch.endswith("skip_connect~2|")
    with pytest.raises(AlreadyExistsError, match="already pending or evaluated"):
        study.tell(told.arch, 6.0)
    nxt = study.propose(count=5)
    assert not {t.arch_hash for t in nxt} & {t.arch_hash for t in study.trials()} - {
        t.arch_hash for t in nxt
    }
    study.delete()
    with pytest.raises(NotFoundError):
        study.info()


def test_idempotent_propose_with_request_id(client) -> None:
    study = client.create_study("idem", space="nb201", strategy="random")
    first = study.propose(count=3, request_id="req-1")
    again = study.propose(count=3, request_id="req-1")
    assert [t.id for t in again] == [t.id for t in first]
    assert len(list(study.trials())) == 3


def test_async_client(server) -> None:
    async def main() -> list[float]:
        async with AsyncClient(server.target) as ac:
            study = await ac.create_study("a", space="nb201", strategy="random")
            trials = await study.propose(count=3)
            await asyncio.gather(*(study.report(t.id, value=float(t.id)) for t in trials))
            return [t.value async for t in study.trials()]

    assert sorted(asyncio.run(main())) == [1.0, 2.0, 3.0]


def test_health_and_reflection(server) -> None:
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "archsampler.v1.ArchSampler"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        names = {
            s.name
            for r in refl.ServerReflectionInfo(iter([req]))
            for s in r.list_services_response.service
        }
        assert {"archsampler.v1.ArchSampler", "grpc.health.v1.Health"} <= names


def test_expired_lease_makes_a_trial_stale_and_a_late_report_counts(tmp_path) -> None:
    from archsampler.testing import ServerThread
    from archsampler_client import Client

    with ServerThread(tmp_path / "l.db", lease_seconds=1.5, lease_sweep_seconds=0.1) as srv:
        with Client(srv.target) as c:
            study = c.create_study("lease", space="nb201", strategy="random")
            kept, lost = study.propose(count=2)
            deadline = time.time() + 10
            while time.time() < deadline:
                study.heartbeat(kept.id)
                states = {t.id: t.state for t in study.trials()}
                if states[lost.id] == "STALE":
                    break
                time.sleep(0.05)
            assert states == {kept.id: "PENDING", lost.id: "STALE"}
            with pytest.raises(ArchSamplerError) as info:
                study.heartbeat(lost.id)
            assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
            late = study.report(lost.id, value=42.0)
            assert late.state == "COMPLETED" and late.value == 42.0
            assert study.best().id == lost.id


README_SPACE = {
    "params": [
        {"name": "depth", "type": "int", "low": 1, "high": 8},
        {"name": "op1", "type": "categorical", "choices": ["conv3", "conv5", "skip"]},
        {
            "name": "lr",
            "type": "float",
            "low": 1e-4,
            "high": 1e-1,
            "log": True,
            "condition": {"param": "depth", "op": ">=", "value": 3},
        },
    ],
    "constraints": [{"coefficients": {"depth": 1.0}, "op": "<=", "bound": 6}],
}


def test_user_space_over_the_wire_with_int_options(client, tmp_path) -> None:
    import json

    path = tmp_path / "space.json"
    path.write_text(json.dumps(README_SPACE))
    study = client.create_study(
        "u",
        space=path,
        strategy="evolution",
        strategy_options={"population": 10, "sample_size": 3},
    )
    same = client.create_study(
        "u",
        space=README_SPACE,
        strategy="evolution",
        strategy_options={"population": 10, "sample_size": 3},
    )
    assert same.info().config == study.info().config
    for t in study.propose(count=20):
        depth = t.params["depth"]
        assert isinstance(depth, int) and 1 <= depth <= 6
        assert ("lr" in t.params) == (depth >= 3)
        study.report(t.id, value=float(depth))
    told = study.tell({"depth": 4, "op1": "conv5", "lr": 0.0123}, 1.0)
    assert told.arch == "depth=4,op1=conv5,lr=0.0123"
    with pytest.raises(ArchSamplerError, match="depth"):
        study.tell({"depth": 7, "op1": "skip", "lr": 0.01}, 1.0)
