"""The client SDK end to end against a real server, on whatever grpcio / protobuf / pydantic
this venv has: CI runs this file in the dev venv (newest) and in `.venv-oldest` (oldest
supported versions). Only the client package is imported; see conftest.py."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import uuid

import google.protobuf
import grpc
import pytest

from archsampler_client import AlreadyExistsError
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient
from archsampler_client import Client
from archsampler_client import InvalidArgumentError
from archsampler_client import NotFoundError
from archsampler_client import Trial
from archsampler_client import TrialState
from archsampler_client import UnavailableError
from archsampler_client.proto import archsampler_pb2 as pb

SPACE = {
    "params": [
        {"name": "depth", "type": "int", "low": 1, "high": 8},
        {"name": "op", "type": "categorical", "choices": ["conv3", "conv5", "skip"]},
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    ],
    "constraints": [{"coefficients": {"depth": 1.0}, "op": "<=", "bound": 6}],
}


def _name() -> str:
    return f"compat-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def client(server_target: str):
    with Client(server_target, retries=2, timeout=30) as c:
        c.wait_ready(timeout=30)
        yield c


def test_stub_set_matches_the_protobuf_runtime() -> None:
    """The generated copy re-exported is the one protobuf supports on this runtime."""
    major = int(google.protobuf.__version__.split(".")[0])
    expected = "_protobuf4" if major < 6 else "_protobuf6"
    assert pb.Trial.DESCRIPTOR.full_name == "archsampler.v1.Trial"
    assert sys.modules[f"archsampler_client.proto.{expected}.archsampler_pb2"].Trial is pb.Trial
    other = {"_protobuf4": "_protobuf6", "_protobuf6": "_protobuf4"}[expected]
    assert f"archsampler_client.proto.{other}.archsampler_pb2" not in sys.modules


def test_client_imports_without_warnings() -> None:
    """No gencode/runtime version warning (protobuf warns on some skews) or deprecation."""
    code = "import archsampler_client, archsampler_client.proto.archsampler_pb2_grpc"
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_create_propose_report(client: Client) -> None:
    study = client.create_study(
        _name(),
        SPACE,
        "evolution",
        strategy_options={"population": 4, "sample_size": 2},
        goal="minimize",
        seed=7,
    )
    again = client.create_study(
        study.name,
        SPACE,
        "evolution",
        strategy_options={"population": 4, "sample_size": 2},
        goal="minimize",
        seed=7,
    )
    assert again.name == study.name  # same config: loaded

    trials = study.propose(count=3, client_id="worker-1")
    assert len(trials) == 3 and len({t.arch for t in trials}) == 3
    for t in trials:
        assert isinstance(t, Trial) and t.state is TrialState.PENDING
        assert t.client_id == "worker-1" and t.study == study.name
        assert set(t.params) == {"depth", "op", "lr"}
        assert isinstance(t.params["depth"], int) and t.params["depth"] <= 6
        assert t.params["op"] in {"conv3", "conv5", "skip"}
        assert isinstance(t.params["lr"], float)
        assert t.value is None and t.lease_expires_at is not None

    first, second, third = trials
    done = study.report(first.id, value=0.25, checkpoint_uri="s3://x", metadata={"k": "v"})
    assert done.state is TrialState.COMPLETED and done.value == 0.25
    assert done.metadata == {"k": "v"} and done.checkpoint_uri == "s3://x"
    assert done.finished_at is not None
    assert study.report(first.id, value=0.25, checkpoint_uri="s3://x", metadata={"k": "v"}) == done
    assert study.report(second.id, failed="OOM").state is TrialState.FAILED
    assert study.heartbeat(third.id).state is TrialState.PENDING
    assert study.report(third.id, infeasible="too big").state is TrialState.INFEASIBLE

    told = study.tell({"depth": 2, "op": "skip", "lr": 0.01}, value=0.125)
    assert told.state is TrialState.COMPLETED and told.arch.startswith("depth=2")
    assert study.best().value == 0.125  # minimize

    info = study.info()
    assert info.name == study.name and info.trial_count == 4 and info.completed_count == 2
    assert info.config["strategy"] == "evolution"
    assert info.config["goal"] == "MINIMIZE" and info.config["seed"] == "7"
    assert info.config["strategy_options"] == {"population": 4.0, "sample_size": 2.0}
    assert info.config["space"]["user"]["params"][0]["name"] == "depth"
    assert study.name in {s.name for s in client.list_studies()}


def test_builtin_space(client: Client) -> None:
    study = client.create_study(_name(), "nb201", "random")
    (trial,) = study.propose()
    assert trial.arch.startswith("|") and len(trial.params) == 6
    assert study.report(trial.id, value=91.5).value == 91.5


def test_trials_paging(client: Client) -> None:
    study = client.create_study(_name(), SPACE, "random")
    proposed = study.propose(count=7)
    for t in proposed[:2]:
        study.report(t.id, value=1.0)
    listed = list(study.trials(page_size=3))
    assert [t.id for t in listed] == sorted(t.id for t in proposed)
    page, token = study.trials_page(page_size=3)
    assert len(page) == 3 and token
    page2, token2 = study.trials_page(page_size=3, page_token=token)
    assert page2[0].id > page[-1].id
    completed = list(study.trials(states=["COMPLETED"], page_size=1))
    assert [t.id for t in completed] == [t.id for t in proposed[:2]]
    pending = list(study.trials(states=["PENDING"]))
    assert len(pending) == 5


def test_session(client: Client) -> None:
    study = client.create_study(_name(), SPACE, "random")
    with study.session() as session:
        (trial,) = session.propose(client_id="worker-1")
        assert session.heartbeat(trial.id).state is TrialState.PENDING
        values = []
        for step in range(3):
            reported, (trial,) = session.report_and_propose(
                trial.id, value=float(step), client_id="worker-1"
            )
            values.append(reported.value)
            assert reported.state is TrialState.COMPLETED and trial.state is TrialState.PENDING
        assert values == [0.0, 1.0, 2.0]
        assert session.report(trial.id, value=5.0).value == 5.0
        with pytest.raises(NotFoundError):  # error in band; the stream goes on
            session.report(10**12, value=1.0)
        with pytest.raises(InvalidArgumentError):
            session.propose(count=0)
        assert len(session.propose(count=2)) == 2
    assert study.info().completed_count == 4


def test_errors_map_to_exception_classes(client: Client, server_target: str) -> None:
    study = client.create_study(_name(), SPACE, "random")
    with pytest.raises(AlreadyExistsError) as err:
        client.create_study(study.name, SPACE, "evolution")
    assert err.value.code is grpc.StatusCode.ALREADY_EXISTS and "strategy" in err.value.details

    with pytest.raises(NotFoundError) as err:
        client.study(_name()).info()
    assert err.value.code is grpc.StatusCode.NOT_FOUND
    with pytest.raises(NotFoundError):
        study.report(10**12, value=1.0)

    (trial,) = study.propose()
    with pytest.raises(InvalidArgumentError) as err:
        study.report(trial.id, value=math.nan)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(InvalidArgumentError):
        study.propose(count=0)
    with pytest.raises(InvalidArgumentError):
        client.create_study("bad name!", SPACE)

    study.report(trial.id, value=1.0)
    with pytest.raises(AlreadyExistsError):
        study.report(trial.id, value=2.0)  # a different report of the same trial
    with pytest.raises(ArchSamplerError) as err:  # no subclass: the base class, with its code
        study.heartbeat(trial.id)
    assert type(err.value) is ArchSamplerError
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION

    study.delete()
    with pytest.raises(NotFoundError):
        study.info()

    with Client("127.0.0.1:1", retries=0, timeout=5) as nowhere:
        with pytest.raises(UnavailableError) as err:
            nowhere.study("x").info()
    assert err.value.code is grpc.StatusCode.UNAVAILABLE


def test_async_client(server_target: str) -> None:
    async def main() -> None:
        async with AsyncClient(server_target, retries=2, timeout=30) as client:
            study = await client.create_study(_name(), SPACE, "random")
            trials = await study.propose(count=4, client_id="worker-a")
            assert len({t.arch for t in trials}) == 4
            done = await study.report(trials[0].id, value=0.5)
            assert done.state is TrialState.COMPLETED
            await study.report(trials[1].id, failed="diverged")
            assert [t.id async for t in study.trials(page_size=3)] == [t.id for t in trials]
            assert (await study.best()).id == trials[0].id
            async with study.session() as session:
                reported, (new,) = await session.report_and_propose(trials[2].id, value=0.75)
                assert reported.value == 0.75 and new.state is TrialState.PENDING
                with pytest.raises(NotFoundError):
                    await session.report(10**12, value=1.0)
                assert (await session.report(new.id, value=0.9)).value == 0.9
            info = await study.info()
            assert info.completed_count == 3 and info.trial_count == 5
            with pytest.raises(NotFoundError):
                await client.study(_name()).info()
            with pytest.raises(InvalidArgumentError):
                await study.report(trials[3].id, value=math.inf)
            assert study.name in {s.name for s in await client.list_studies()}

    asyncio.run(main())
